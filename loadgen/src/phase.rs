//! Phase files (`loadgen/phases/*.toml`): a whole phase of the plan in one file: scenario, host,
//! stages, thresholds and outputs. A stage's own `thresholds` apply to that stage alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use toml::Spanned;

use crate::runner::Stage;
use crate::threshold::Threshold;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    scenario: Spanned<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    outputs: Outputs,
    #[serde(default)]
    stage: Vec<StageFile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    pub csv: Option<String>,
    pub html: Option<String>,
    pub json: Option<String>,
    pub junit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    users: Option<usize>,
    #[serde(default)]
    spawn_rate: Option<f64>,
    duration: Spanned<String>,
    #[serde(default)]
    arrival_rate: Option<Spanned<String>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
}

/// A loaded phase.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub description: Option<String>,
    /// A built-in name, or a path resolved against the phase file's folder.
    pub scenario: String,
    pub host: Option<String>,
    pub thresholds: Vec<Threshold>,
    pub vars: Vec<(String, String)>,
    pub request_timeout: Option<Duration>,
    pub outputs: Outputs,
    pub stages: Vec<Stage>,
}

impl Phase {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let source = std::fs::read_to_string(path)
            .with_context(|| format!("reading the phase file {}", path.display()))?;
        Self::parse(&source, path)
    }

    pub fn parse(source: &str, path: &Path) -> anyhow::Result<Self> {
        let origin = path.display().to_string();
        let file: PhaseFile = toml::from_str(source)
            .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        let at = |span: std::ops::Range<usize>, key: &str, reason: &dyn std::fmt::Display| {
            let line = source[..span.start.min(source.len())].matches('\n').count() + 1;
            anyhow::anyhow!("{origin}:{line}: {key}: {reason}")
        };
        let mut thresholds = Vec::new();
        for (i, t) in file.thresholds.iter().enumerate() {
            thresholds.push(
                Threshold::parse(t.get_ref())
                    .map_err(|e| at(t.span(), &format!("thresholds[{i}]"), &format!("{e:#}")))?,
            );
        }
        if file.stage.is_empty() {
            bail!("{origin}: a phase needs at least one [[stage]] (users, spawn_rate, duration)");
        }
        let mut stages = Vec::new();
        for (i, s) in file.stage.iter().enumerate() {
            let key = format!("stage[{i}]");
            let duration = humantime::parse_duration(s.duration.get_ref())
                .map_err(|e| at(s.duration.span(), &format!("{key}.duration"), &e))?;
            if duration.is_zero() {
                return Err(at(
                    s.duration.span(),
                    &format!("{key}.duration"),
                    &"must be longer than 0s",
                ));
            }
            let arrival_rate = s
                .arrival_rate
                .as_ref()
                .map(|a| {
                    parse_rate(a.get_ref())
                        .map_err(|e| at(a.span(), &format!("{key}.arrival_rate"), &e))
                })
                .transpose()?;
            let users = match (s.users, arrival_rate) {
                (Some(u), _) => u,
                // Open model without a cap: enough users for a second of starts.
                (None, Some(rate)) => (rate.ceil() as usize).max(1),
                (None, None) => bail!("{origin}: {key}: users is required"),
            };
            let spawn_rate = s.spawn_rate.unwrap_or(users.max(1) as f64);
            if spawn_rate <= 0.0 {
                bail!("{origin}: {key}.spawn_rate: must be above 0");
            }
            for (j, t) in s.thresholds.iter().enumerate() {
                thresholds.push(
                    Threshold::parse(t.get_ref())
                        .map_err(|e| {
                            at(
                                t.span(),
                                &format!("{key}.thresholds[{j}]"),
                                &format!("{e:#}"),
                            )
                        })?
                        .in_stage(i),
                );
            }
            stages.push(Stage {
                name: s
                    .name
                    .clone()
                    .unwrap_or_else(|| Stage::default_name(users, arrival_rate)),
                users,
                spawn_rate,
                duration,
                arrival_rate,
            });
        }
        if stages.iter().any(|s| s.arrival_rate.is_some())
            && stages.iter().any(|s| s.arrival_rate.is_none())
        {
            bail!("{origin}: either every stage has an arrival_rate (open model) or none does");
        }
        let request_timeout = file
            .request_timeout
            .as_ref()
            .map(|t| {
                humantime::parse_duration(t.get_ref())
                    .map_err(|e| at(t.span(), "request_timeout", &e))
            })
            .transpose()?;
        let scenario = {
            let s = file.scenario.get_ref();
            let builtin = crate::scenario::BUILT_IN.iter().any(|(n, _)| n == s);
            if builtin || Path::new(s).is_absolute() {
                s.clone()
            } else {
                let base = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
                base.join(s).display().to_string()
            }
        };
        let vars = file
            .vars
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        Ok(Self {
            name: file.name.unwrap_or_else(|| {
                path.file_stem()
                    .map_or_else(|| "phase".into(), |s| s.to_string_lossy().into())
            }),
            description: file.description,
            scenario,
            host: file.host,
            thresholds,
            vars,
            request_timeout,
            outputs: file.outputs,
            stages,
        })
    }
}

/// `500/s`, `500`, `30000/m`: iterations per second.
pub fn parse_rate(text: &str) -> anyhow::Result<f64> {
    let t = text.trim();
    let (number, per) = if let Some(n) = t.strip_suffix("/s") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("/m") {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let n: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{text:?} is not a rate like 500/s"))?;
    if !(n > 0.0 && n.is_finite()) {
        bail!("{text:?}: the rate must be above 0");
    }
    Ok(n / per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_phases_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("phases");
        for (file, stages, users) in [
            ("smoke.toml", 1, 10),
            ("stress.toml", 5, 1000),
            ("payment.toml", 1, 500),
            ("soak.toml", 1, 300),
        ] {
            let p = Phase::load(&dir.join(file)).unwrap();
            assert_eq!(p.stages.len(), stages, "{file}");
            assert_eq!(p.stages.last().unwrap().users, users, "{file}");
            assert!(!p.thresholds.is_empty(), "{file} carries the plan's SLOs");
        }
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let src = "scenario = \"shop\"\nthresholds = [\"p95 < 1000\"]\n[[stage]]\nusers = 1\nduration = \"1m\"\n";
        let e = Phase::parse(src, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:2: thresholds[0]:"), "{e}");
        let src = "scenario = \"shop\"\n[[stage]]\nusers = 1\nduration = \"soon\"\n";
        let e = Phase::parse(src, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:4: stage[0].duration:"), "{e}");
        let src = "scenario = \"shop\"\n[[stage]]\nusers = 1\nduraton = \"1m\"\n";
        let e = Phase::parse(src, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.toml") && e.contains("line 4") && e.contains("duraton"),
            "{e}"
        );
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500/s").unwrap(), 500.0);
        assert_eq!(parse_rate("600/m").unwrap(), 10.0);
        assert!(parse_rate("0/s").is_err());
    }
}
