//! Prometheus' (and OpenMetrics') text exposition format, as far as a scrape reads it: sample
//! lines only (comments, `# TYPE` and `# EOF` skipped), and the quantile of a histogram's buckets
//! between two scrapes. A few dozen lines; no well-kept crate parses it without a server stack.

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses Prometheus' (or OpenMetrics') text format into samples; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let mut chars = rest[1..].char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 2);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    // The value: a quoted string with \\, \" and \n escapes.
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        rest = &rest[end?..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The `q` quantile (0..1) of the observations between two cumulative bucket readings, by linear
/// interpolation inside the bucket (as Prometheus' `histogram_quantile` does). Seconds.
pub fn bucket_quantile(before: &[(f64, f64)], now: &[(f64, f64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = now
        .iter()
        .map(|(le, c)| {
            let b = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, (c - b).max(0.0))
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = 0.0;
    let mut below = 0.0;
    for (le, count) in &delta {
        if *count >= rank {
            if le.is_infinite() {
                // Above the last finite bound: that bound is all that is known.
                return Some(lower);
            }
            let inside = count - below;
            let share = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        lower = if le.is_finite() { *le } else { lower };
        below = *count;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE shop_http_requests counter
shop_http_requests_total{method="GET",route="/api/products/",status="200"} 10
shop_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/products/"} 1
shop_db_pool_max_connections 5
shop_jobs_backlog 7
# EOF
"#;

    #[test]
    fn the_text_format_parses() {
        let samples = parse(TEXT);
        assert_eq!(samples.len(), 4);
        let s = &samples[0];
        assert_eq!(s.name, "shop_http_requests_total");
        assert_eq!(s.label("route"), Some("/api/products/"));
        assert_eq!(s.value, 10.0);
        let odd = parse(r#"x{a="q\"uote\\d,}",b="2"} 1.5e3 1700000000"#);
        assert_eq!(odd[0].labels[0].1, "q\"uote\\d,}");
        assert_eq!(odd[0].label("b"), Some("2"));
        assert_eq!(odd[0].value, 1500.0);
        assert!(parse("broken{a=1} 2\nplain 3").len() == 1);
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let before = [(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 0.0)];
        let now = [(0.01, 50.0), (0.1, 100.0), (f64::INFINITY, 100.0)];
        let p50 = bucket_quantile(&before, &now, 0.5).unwrap();
        assert!((p50 - 0.01).abs() < 1e-9);
        let p95 = bucket_quantile(&before, &now, 0.95).unwrap();
        assert!((p95 - 0.091).abs() < 1e-9, "{p95}");
        assert_eq!(bucket_quantile(&now, &now, 0.95), None, "nothing new");
        let over = [(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(bucket_quantile(&before, &over, 0.95), Some(0.1));
    }
}
