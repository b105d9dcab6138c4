//! The rules, in two files by what they may assume: `generic` rules hold for any target (the
//! generator, PostgreSQL, Redis, the pool and the CPU say so whatever the routes are), `shop`
//! rules know our shop's routes and its known bugs (the cart's 405, the reservation view, the
//! product list, payment confirm, simplejwt's tokens). This file holds what both write evidence
//! with, so every finding words numbers the same way.

use super::{Failure, View};

pub mod generic;
pub mod resources;
pub mod shop;

pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) if v >= 10.0 => format!("{v:.0} ms"),
        Some(v) => format!("{v:.1} ms"),
    }
}

pub(crate) fn short(query: &str) -> String {
    let one_line: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 100 {
        let mut s: String = one_line.chars().take(99).collect();
        s.push('…');
        s
    } else {
        one_line
    }
}

/// Failures with `status`, grouped by endpoint: (method, name, occurrences, first failure).
pub(crate) fn by_status(v: &View, keep: impl Fn(u16) -> bool) -> Vec<(String, u64, &Failure)> {
    let mut groups: Vec<(String, u64, &Failure)> = Vec::new();
    for f in &v.failures {
        if !f.status.is_some_and(&keep) {
            continue;
        }
        let key = format!("{} {}", f.method, f.name);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => {
                g.1 += f.occurrences;
                if f.first_s < g.2.first_s {
                    g.2 = f;
                }
            }
            None => groups.push((key, f.occurrences, f)),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    groups
}
