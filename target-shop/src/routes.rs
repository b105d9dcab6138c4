//! The URL map. Each route declares its methods and who may call it; from that come its `Allow`
//! header (on every response), its 405 (only after authentication, as in DRF) and its OPTIONS
//! answer. A path without its trailing slash is redirected (301) when the slashed path is a route,
//! as Django's APPEND_SLASH does; any other unknown URL gets Django's HTML 404.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use crate::auth::{AuthUser, MaybeUser};
use crate::drf;
use crate::{AppState, auth, cart, catalog, health, orders, payments, telemetry};

/// Who a route's view lets in (DRF's authentication and permission classes).
#[derive(Clone, Copy)]
enum Access {
    /// simplejwt's token views: no authentication at all, any header ignored.
    TokenView,
    /// `AllowAny` with JWT authentication: anonymous is fine, an invalid token is not.
    Public,
    /// `IsAuthenticated`.
    User,
}

struct Api {
    router: Router<AppState>,
    paths: matchit::Router<()>,
}

impl Api {
    fn new() -> Self {
        Self {
            router: Router::new(),
            paths: matchit::Router::new(),
        }
    }

    fn route(
        mut self,
        path: &'static str,
        name: &'static str,
        access: Access,
        methods: &[Method],
        handlers: MethodRouter<AppState>,
    ) -> Self {
        let allow = HeaderValue::from_str(&drf::allow_header(methods))
            .unwrap_or_else(|_| HeaderValue::from_static("OPTIONS"));
        let handlers = match access {
            Access::TokenView => handlers
                .options(move || async move { drf::options_metadata(name) })
                .fallback(|method: Method| async move { drf::method_not_allowed(&method) }),
            Access::Public => handlers
                .options(move |_: MaybeUser| async move { drf::options_metadata(name) })
                .fallback(|method: Method, _: MaybeUser| async move {
                    drf::method_not_allowed(&method)
                }),
            Access::User => handlers
                .options(move |_: AuthUser| async move { drf::options_metadata(name) })
                .fallback(
                    |method: Method, _: AuthUser| async move { drf::method_not_allowed(&method) },
                ),
        };
        let handlers = handlers.layer(axum::middleware::map_response(move |response: Response| {
            let allow = allow.clone();
            async move { drf::with_allow(response, allow) }
        }));
        // matchit's syntax is axum's: `{id}`.
        let _ = self.paths.insert(path, ());
        self.router = self.router.route(path, handlers);
        self
    }

    fn finish(self, state: AppState) -> Router {
        let paths = std::sync::Arc::new(self.paths);
        self.router
            .route("/healthz", get(health::healthz))
            .route("/metrics", get(telemetry::metrics))
            // Inside the telemetry: a read run again after a lost connection counts once.
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::reconnect::recover,
            ))
            // Only matched routes: their pattern is the label, and scanners of unknown URLs
            // cannot blow up the label set.
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                telemetry::track,
            ))
            .fallback(move |request: Request| {
                let paths = paths.clone();
                async move { append_slash(&paths, &request).unwrap_or(drf::unknown_url().await) }
            })
            .layer(axum::extract::DefaultBodyLimit::max(drf::MAX_BODY))
            .with_state(state)
    }
}

/// Django's APPEND_SLASH with DEBUG off: 301 to the slashed path (query kept, Location relative)
/// for any method, when that path is a route.
fn append_slash(paths: &matchit::Router<()>, request: &Request) -> Option<Response> {
    let path = request.uri().path();
    if path.ends_with('/') {
        return None;
    }
    let slashed = format!("{path}/");
    paths.at(&slashed).ok()?;
    let location = match request.uri().query() {
        Some(query) => format!("{slashed}?{query}"),
        None => slashed,
    };
    let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).ok()?);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Some(response)
}

/// The shop's router over `state`.
pub fn app(state: AppState) -> Router {
    use Method as M;
    // The `cart-405` fault: the items route as a read-only viewset, so POST is not allowed.
    let (item_methods, items): (&[Method], MethodRouter<AppState>) = if state.faults.cart_405 {
        (&[M::GET], get(cart::list))
    } else {
        (&[M::GET, M::POST], get(cart::list).post(cart::add))
    };
    Api::new()
        .route(
            "/api/auth/login/",
            "Token Obtain Pair",
            Access::TokenView,
            &[M::POST],
            post(auth::routes::login),
        )
        .route(
            "/api/auth/refresh/",
            "Token Refresh",
            Access::TokenView,
            &[M::POST],
            post(auth::routes::refresh),
        )
        .route(
            "/api/auth/verify/",
            "Token Verify",
            Access::TokenView,
            &[M::POST],
            post(auth::routes::verify),
        )
        .route(
            "/api/auth/me/",
            "Me",
            Access::User,
            &[M::GET],
            get(auth::routes::me),
        )
        .route(
            "/api/products/",
            "Product List",
            Access::Public,
            &[M::GET],
            get(catalog::routes::list),
        )
        .route(
            "/api/products/{id}/",
            "Product Detail",
            Access::Public,
            &[M::GET],
            get(catalog::routes::detail),
        )
        .route(
            "/api/products/{id}/stock/reserve/",
            "Reserve Stock",
            Access::User,
            &[M::POST],
            post(orders::routes::reserve_stock),
        )
        .route(
            "/api/orders/",
            "Order List",
            Access::User,
            &[M::GET, M::POST],
            get(orders::routes::list).post(orders::routes::create),
        )
        .route(
            "/api/orders/{id}/",
            "Order Instance",
            Access::User,
            &[M::GET],
            get(orders::routes::detail),
        )
        .route(
            "/api/orders/{id}/cancel/",
            "Cancel",
            Access::User,
            &[M::POST],
            post(orders::routes::cancel),
        )
        .route(
            "/api/payments/confirm/",
            "Payment Confirm",
            Access::User,
            &[M::POST],
            post(payments::routes::confirm),
        )
        .route(
            "/api/payments/{payment_key}/cancel/",
            "Payment Cancel",
            Access::User,
            &[M::POST],
            post(payments::routes::cancel),
        )
        .route(
            "/api/schema/",
            "Schema",
            Access::TokenView,
            &[M::GET],
            get(crate::openapi::schema),
        )
        .route(
            "/api/cart/",
            "Cart",
            Access::User,
            &[M::GET],
            get(cart::show),
        )
        .route(
            "/api/cart/items/",
            "Cart Item List",
            Access::User,
            item_methods,
            items,
        )
        .route(
            "/api/cart/items/{id}/",
            "Cart Item Instance",
            Access::User,
            &[M::PATCH, M::DELETE],
            axum::routing::patch(cart::update).delete(cart::remove),
        )
        .finish(state)
}
