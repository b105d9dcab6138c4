//! Locust's start and edit form (`POST /swarm`: `user_count`, `spawn_rate`, `host`, `run_time`,
//! and our `scenario` and `stages=phase`), checked field by field: a bad form answers every field
//! at fault and starts nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use http::Uri;

use super::session::Setup;
use crate::scenario::Scenario;

/// The most users a form may ask for, and the fastest spawn rate: beyond them it is a typo, not
/// a test this machine could run.
pub const MOST_USERS: usize = 100_000;
pub const FASTEST_SPAWN: f64 = 10_000.0;

/// A checked start form.
pub struct Start {
    pub users: usize,
    pub spawn_rate: f64,
    pub host: Uri,
    pub run_time: Option<Duration>,
    pub scenario: Scenario,
    /// `stages=phase`: the phase file's stages instead of one stage of `users`.
    pub stages: Option<Vec<crate::runner::Stage>>,
}

/// A checked edit form (while a run goes).
pub struct Edit {
    pub users: usize,
    pub spawn_rate: f64,
}

/// Field name -> what is wrong with it.
pub type Errors = BTreeMap<&'static str, String>;

fn users(form: &HashMap<String, String>, errors: &mut Errors) -> Option<usize> {
    let text = form.get("user_count").map(|s| s.trim()).unwrap_or("");
    match text.parse::<usize>() {
        Ok(0) => {
            errors.insert("user_count", "must be at least 1".into());
            None
        }
        Ok(n) if n > MOST_USERS => {
            errors.insert("user_count", format!("at most {MOST_USERS} users"));
            None
        }
        Ok(n) => Some(n),
        Err(_) => {
            errors.insert("user_count", format!("{text:?} is not a whole number"));
            None
        }
    }
}

fn spawn_rate(form: &HashMap<String, String>, errors: &mut Errors) -> Option<f64> {
    let text = form.get("spawn_rate").map(|s| s.trim()).unwrap_or("");
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= FASTEST_SPAWN => Some(r),
        Ok(r) if r.is_finite() && r > FASTEST_SPAWN => {
            errors.insert(
                "spawn_rate",
                format!("at most {FASTEST_SPAWN} users started per second"),
            );
            None
        }
        Ok(_) => {
            errors.insert("spawn_rate", "must be above 0 users per second".into());
            None
        }
        Err(_) => {
            errors.insert("spawn_rate", format!("{text:?} is not a number"));
            None
        }
    }
}

/// Locust's run time: `20` (seconds), `20s`, `3m`, `2h`, `1h20m`; empty is "until Stop".
fn run_time(form: &HashMap<String, String>, errors: &mut Errors) -> Option<Option<Duration>> {
    let text = form.get("run_time").map(|s| s.trim()).unwrap_or("");
    if text.is_empty() {
        return Some(None);
    }
    match crate::timespan::parse(text) {
        Ok(d) if !d.is_zero() => Some(Some(d)),
        _ => {
            errors.insert(
                "run_time",
                "valid run times: 20, 20s, 3m, 2h, 1h20m, 3h30m10s".into(),
            );
            None
        }
    }
}

/// A start form, checked against what the command line set up.
pub fn start(form: &HashMap<String, String>, setup: &Setup) -> Result<Start, Errors> {
    let mut errors = Errors::new();
    let stages = match form.get("stages").map(|s| s.trim()).unwrap_or("") {
        "" => None,
        "phase" if !setup.phase_stages.is_empty() => Some(setup.phase_stages.clone()),
        "phase" => {
            errors.insert("stages", "no phase file: start loadgen with --phase".into());
            None
        }
        other => {
            errors.insert("stages", format!("{other:?}: the only choice is \"phase\""));
            None
        }
    };
    // The phase's stages bring their own users, spawn rates and lengths.
    let (users, spawn_rate, run_time) = match &stages {
        Some(s) => {
            let peak = s.iter().max_by_key(|s| s.users);
            (
                peak.map(|s| s.users),
                peak.map(|s| s.spawn_rate),
                Some(None),
            )
        }
        None => (
            users(form, &mut errors),
            spawn_rate(form, &mut errors),
            run_time(form, &mut errors),
        ),
    };
    let host_text = form
        .get("host")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(&setup.host);
    let host = match crate::client::parse_host(host_text) {
        Ok(h) if h.host().is_some() => Some(h),
        Ok(_) => {
            errors.insert("host", format!("{host_text:?} has no host name"));
            None
        }
        Err(_) => {
            errors.insert(
                "host",
                format!("{host_text:?} is not a URL (http://127.0.0.1:8000)"),
            );
            None
        }
    };
    let scenario_text = form
        .get("scenario")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(&setup.scenario);
    let scenario = match Scenario::load(scenario_text).and_then(|mut s| {
        s.filter_tags(&setup.tags, &setup.exclude_tags)?;
        Ok(s)
    }) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.insert("scenario", format!("{e:#}"));
            None
        }
    };
    match (users, spawn_rate, host, run_time, scenario) {
        (Some(users), Some(spawn_rate), Some(host), Some(run_time), Some(scenario))
            if errors.is_empty() =>
        {
            Ok(Start {
                users,
                spawn_rate,
                host,
                run_time,
                scenario,
                stages,
            })
        }
        _ => Err(errors),
    }
}

/// An edit form: only the users and the spawn rate change.
pub fn edit(form: &HashMap<String, String>) -> Result<Edit, Errors> {
    let mut errors = Errors::new();
    let users = users(form, &mut errors);
    let spawn_rate = spawn_rate(form, &mut errors);
    match (users, spawn_rate) {
        (Some(users), Some(spawn_rate)) => Ok(Edit { users, spawn_rate }),
        _ => Err(errors),
    }
}

/// The whole form's one line: its fields' complaints together.
pub fn message(errors: &Errors) -> String {
    errors
        .iter()
        .map(|(field, why)| format!("{field}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn bad_edits_name_each_field() {
        let e = edit(&form(&[("user_count", "0"), ("spawn_rate", "-2")])).err();
        let e = e.expect("refused");
        assert_eq!(e["user_count"], "must be at least 1");
        assert_eq!(e["spawn_rate"], "must be above 0 users per second");
        let e = edit(&form(&[("user_count", "ten"), ("spawn_rate", "1e9")]))
            .err()
            .expect("refused");
        assert!(e["user_count"].contains("not a whole number"));
        assert!(e["spawn_rate"].contains("at most"));
        assert!(edit(&form(&[("user_count", "50"), ("spawn_rate", "2.5")])).is_ok());
    }

    #[test]
    fn run_times_read_as_locusts() {
        let mut e = Errors::new();
        let rt = |t| run_time(&form(&[("run_time", t)]), &mut Errors::new());
        assert_eq!(rt("20"), Some(Some(Duration::from_secs(20))));
        assert_eq!(rt("1h20m"), Some(Some(Duration::from_secs(4800))));
        assert_eq!(rt(""), Some(None));
        assert_eq!(run_time(&form(&[("run_time", "soon")]), &mut e), None);
        assert!(e["run_time"].contains("20s"));
    }
}
