//! A duration as Locust reads one (`--run-time 1h30m`, the web form's run time): `90s`, `2m`,
//! `1h30m`, `3h30m10s`, a bare number of seconds (`20`, `0.5`), and humantime's longer forms (`1h
//! 30m`, `500ms`). The one parser of a duration typed on loadgen's command line (clap's
//! `value_parser`, so a flag is parsed once, into a `Duration`), in its web form, and in xtask's
//! flags that loadgen also reads. Phase and scenario files keep their own TOML rules.

use std::time::Duration;

/// A bad value's error is one line with the forms that work; clap puts the flag and value before it.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten()
            .ok_or_else(|| "not a duration: seconds must be 0 or more".to_owned());
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("not a duration (90s, 5m, 1h30m or seconds): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locusts_forms_and_bare_seconds() {
        let secs = |s| parse(s).map(|d| d.as_secs_f64());
        assert_eq!(secs("20"), Ok(20.0));
        assert_eq!(secs("0.5"), Ok(0.5));
        assert_eq!(secs("0"), Ok(0.0));
        assert_eq!(secs("90s"), Ok(90.0));
        assert_eq!(secs("2m"), Ok(120.0));
        assert_eq!(secs("1h30m"), Ok(5400.0));
        assert_eq!(secs("3h30m10s"), Ok(12_610.0));
        assert_eq!(secs(" 1h 30m "), Ok(5400.0));
        assert_eq!(secs("500ms"), Ok(0.5));
        for bad in ["soon", "", "-5", "1e30", "NaN", "5 parsecs"] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.starts_with("not a duration") && !e.contains('\n'),
                "{bad}: {e}"
            );
        }
    }
}
