//! The known bugs the shop can be switched into (`--fault NAME`, repeatable, or `SHOP_FAULTS=a,b`),
//! each producing its documented symptom and nothing else. Parsing refuses names it does not know,
//! so a typo never runs a "faulty" test against a correct shop.

use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// `cart-405`: `/api/cart/items/` routed like a read-only viewset.
    pub cart_405: bool,
    /// `short-token=SECS`: access tokens live SECS seconds.
    pub short_token: Option<Duration>,
    /// `no-cache`: the product list is never cached.
    pub no_cache: bool,
    /// `pool=N`: a database pool of N connections with a 5 s acquire timeout.
    pub pool: Option<u32>,
    /// `no-lock`: stock is decremented with read-then-write and no row lock.
    pub no_lock: bool,
    /// `reservation-serializer`: the reserve view hands the domain result to the serializer.
    pub reservation_serializer: bool,
    /// `n-plus-one`: the product list loads category and stock one query per product.
    pub n_plus_one: bool,
    /// `inline-jobs`: the e-mail and point accrual of a payment run inside the confirm request.
    pub inline_jobs: bool,
    /// `single-worker`: the job worker runs one job at a time, whatever `--worker-concurrency` says.
    pub single_worker: bool,
    /// `missing-index`: the index the order list filters on (`orders_order.user_id`) is dropped at
    /// start-up; without the fault a start puts it back.
    pub missing_index: bool,
    /// `leak=KIB`: every request keeps KIB kibibytes that are never freed.
    pub leak_kib: Option<u32>,
    /// `missing-app`: the start-up refuses, as Django does when an installed app is missing.
    pub missing_app: bool,
}

/// The names `parse` knows, for messages and `--help`.
pub const KNOWN: &str = "cart-405, short-token=SECS, no-cache, pool=N, no-lock, \
    reservation-serializer, n-plus-one, inline-jobs, single-worker, missing-index, leak=KIB, \
    missing-app";

/// What `missing-app` refuses to start with: Django's ImproperlyConfigured, naming the missing piece
/// and the fix.
pub const MISSING_APP: &str = "ImproperlyConfigured: REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES \
    names 'rest_framework_simplejwt.authentication.JWTAuthentication', but \
    'rest_framework_simplejwt' is not in INSTALLED_APPS (--fault missing-app); fix: add \
    'rest_framework_simplejwt' to INSTALLED_APPS";

impl Faults {
    /// Parses fault names (each may also be a comma-separated list).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut faults = Self::default();
        for name in names.into_iter().flat_map(|n| n.split(',')).map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let (key, value) = match name.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (name, None),
            };
            let number = |what: &str| -> Result<u64, String> {
                value
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("fault '{key}' needs a positive {what}: {key}=N"))
            };
            match (key, value) {
                ("cart-405", None) => faults.cart_405 = true,
                ("no-cache", None) => faults.no_cache = true,
                ("no-lock", None) => faults.no_lock = true,
                ("reservation-serializer", None) => faults.reservation_serializer = true,
                ("n-plus-one", None) => faults.n_plus_one = true,
                ("inline-jobs", None) => faults.inline_jobs = true,
                ("single-worker", None) => faults.single_worker = true,
                ("missing-index", None) => faults.missing_index = true,
                ("missing-app", None) => faults.missing_app = true,
                ("leak", Some(_)) => {
                    let n = number("number of KiB")?;
                    faults.leak_kib = Some(
                        u32::try_from(n)
                            .ok()
                            .filter(|n| *n <= 1024)
                            .ok_or_else(|| format!("leak={n}: at most 1024 KiB a request"))?,
                    );
                }
                ("short-token", Some(_)) => {
                    faults.short_token = Some(Duration::from_secs(number("number of seconds")?));
                }
                ("pool", Some(_)) => {
                    let n = number("pool size")?;
                    faults.pool =
                        Some(u32::try_from(n).map_err(|_| format!("pool={n} is too large"))?);
                }
                ("short-token" | "pool" | "leak", None) => {
                    return Err(format!("fault '{key}' needs a value: {key}=N"));
                }
                _ => return Err(format!("unknown fault '{name}' (known: {KNOWN})")),
            }
        }
        Ok(faults)
    }

    /// The names in force, for the start-up log.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.cart_405 {
            names.push("cart-405".to_string());
        }
        if let Some(d) = self.short_token {
            names.push(format!("short-token={}", d.as_secs()));
        }
        if self.no_cache {
            names.push("no-cache".to_string());
        }
        if let Some(n) = self.pool {
            names.push(format!("pool={n}"));
        }
        if self.no_lock {
            names.push("no-lock".to_string());
        }
        if self.reservation_serializer {
            names.push("reservation-serializer".to_string());
        }
        if self.n_plus_one {
            names.push("n-plus-one".to_string());
        }
        if self.inline_jobs {
            names.push("inline-jobs".to_string());
        }
        if self.single_worker {
            names.push("single-worker".to_string());
        }
        if self.missing_index {
            names.push("missing-index".to_string());
        }
        if let Some(n) = self.leak_kib {
            names.push(format!("leak={n}"));
        }
        if self.missing_app {
            names.push("missing-app".to_string());
        }
        names
    }
}

/// The `missing-index` fault drops the order list's index; a start without it puts the index
/// back when it is missing (the fix), so one fault run does not leave the database slow for the
/// next. A database user without the right to do either gets a warning, not a refused start.
pub async fn order_index(db: &sqlx::PgPool, missing: bool) {
    const INDEX: &str = "orders_order_user_id_idx";
    let present = sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = $1)",
    )
    .bind(INDEX)
    .fetch_one(db)
    .await;
    let statement = match (missing, present) {
        (true, Ok(true)) => "DROP INDEX IF EXISTS orders_order_user_id_idx",
        (false, Ok(false)) => {
            "CREATE INDEX IF NOT EXISTS orders_order_user_id_idx ON orders_order (user_id)"
        }
        (_, Ok(_)) => return,
        (_, Err(e)) => {
            tracing::warn!(error = %e, "could not look for the order list's index");
            return;
        }
    };
    match sqlx::query(statement).execute(db).await {
        Ok(_) if missing => tracing::warn!(index = INDEX, "missing-index: dropped the index"),
        Ok(_) => tracing::info!(
            index = INDEX,
            "the order list's index was missing: created it"
        ),
        Err(e) => tracing::warn!(error = %e, statement, "could not change the order list's index"),
    }
}

/// Memory the `leak=KIB` fault keeps: never freed while the process lives.
static LEAKED: std::sync::Mutex<Vec<Box<[u8]>>> = std::sync::Mutex::new(Vec::new());

/// Bytes the `leak=KIB` fault has kept so far in this process.
pub fn leaked_bytes() -> usize {
    LEAKED
        .lock()
        .map_or(0, |leaked| leaked.iter().map(|block| block.len()).sum())
}

/// Keeps `kib` KiB for good, written so that the pages are really resident.
pub fn leak(kib: u32) {
    let block = vec![0x5a_u8; kib as usize * 1024].into_boxed_slice();
    if let Ok(mut leaked) = LEAKED.lock() {
        leaked.push(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_lists_and_values() {
        let f = Faults::parse(["cart-405,no-cache", "short-token=30", "pool=3"]).unwrap();
        assert!(f.cart_405 && f.no_cache && !f.inline_jobs);
        assert_eq!(f.short_token, Some(Duration::from_secs(30)));
        assert_eq!(f.pool, Some(3));
        assert_eq!(
            f.names(),
            ["cart-405", "short-token=30", "no-cache", "pool=3"]
        );
        assert_eq!(Faults::parse([""]).unwrap(), Faults::default());
        let f = Faults::parse(["inline-jobs"]).unwrap();
        assert!(f.inline_jobs);
        assert_eq!(f.names(), ["inline-jobs"]);
        let f = Faults::parse(["single-worker,missing-index", "leak=64", "missing-app"]).unwrap();
        assert!(f.single_worker && f.missing_index && f.missing_app);
        assert_eq!(f.leak_kib, Some(64));
        assert_eq!(
            f.names(),
            ["single-worker", "missing-index", "leak=64", "missing-app"]
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in [
            "cart405",
            "short-token",
            "short-token=0",
            "pool=x",
            "no-cache=1",
            "inline-jobs=1",
            "leak",
            "leak=0",
            "leak=4096",
            "missing-app=1",
        ] {
            let error = Faults::parse([bad]).unwrap_err();
            assert!(!error.is_empty(), "{bad}");
        }
        assert!(
            Faults::parse(["nope"])
                .unwrap_err()
                .contains("known: cart-405")
        );
    }
}
