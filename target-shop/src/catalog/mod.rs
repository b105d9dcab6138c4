//! Products and categories: the paginated, filterable list (anonymous first pages cached in Redis
//! for 300 s, invalidated whenever a product or its stock changes) and the detail view.

pub mod cache;
pub mod pagination;
pub mod routes;

/// A product as the list shows it; the detail view adds the stock's physical and reserved counts.
#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: i32,
    pub status: String,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub available_stock: Option<i32>,
    pub physical_stock: Option<i32>,
    pub reserved_stock: Option<i32>,
}

impl ProductRow {
    pub fn to_json(&self, detail: bool) -> serde_json::Value {
        let category = match (self.category_id, &self.category_name) {
            (Some(id), Some(name)) => serde_json::json!({"id": id, "name": name}),
            _ => serde_json::Value::Null,
        };
        let stock = match self.available_stock {
            None => serde_json::Value::Null,
            Some(available) if detail => serde_json::json!({
                "available_stock": available,
                "physical_stock": self.physical_stock,
                "reserved_stock": self.reserved_stock,
            }),
            Some(available) => serde_json::json!({"available_stock": available}),
        };
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "status": self.status,
            "category": category,
            "stock": stock,
        })
    }
}

/// Columns of [`ProductRow`], for the catalog's queries.
pub const PRODUCT_COLUMNS: &str = "p.id, p.name, p.description, p.price, p.status, p.category_id,
    c.name AS category_name, s.available_stock, s.physical_stock, s.reserved_stock";

/// The joins [`PRODUCT_COLUMNS`] needs.
pub const PRODUCT_JOINS: &str = "FROM products_product p
    LEFT JOIN products_category c ON c.id = p.category_id
    LEFT JOIN products_productstock s ON s.product_id = p.id";
