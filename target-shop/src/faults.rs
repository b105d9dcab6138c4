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
}

/// The names `parse` knows, for messages and `--help`.
pub const KNOWN: &str = "cart-405, short-token=SECS, no-cache, pool=N, no-lock, reservation-serializer, n-plus-one, inline-jobs";

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
                ("short-token", Some(_)) => {
                    faults.short_token = Some(Duration::from_secs(number("number of seconds")?));
                }
                ("pool", Some(_)) => {
                    let n = number("pool size")?;
                    faults.pool =
                        Some(u32::try_from(n).map_err(|_| format!("pool={n} is too large"))?);
                }
                ("short-token" | "pool", None) => {
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
        names
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
