//! The shards to merge: summary.json files named on the command line or found in directories,
//! read with the file named in every error, then checked to be the shards of one run: one
//! scenario, phase and model, each of 1..N exactly once. Anything else stops the merge, because a
//! partial merge would be reported as the whole run with its counts quietly short.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::report::{Model, Results};
use crate::shard::Shard;
use crate::summary::Summary;

/// How many folder levels below a named directory are searched: a results volume holds a folder
/// per shard, perhaps under a folder per run; deeper is likelier the wrong directory.
const DEPTH: usize = 3;

/// The name a run's report directory gives its summary, and the one a directory is searched for.
const SUMMARY: &str = "summary.json";

/// One shard's run, read back from its summary.json.
pub struct ShardRun {
    pub path: PathBuf,
    pub shard: Shard,
    pub results: Results,
}

/// The summary files `inputs` name: files as given (reading says when one is missing), and every
/// `summary.json` under a directory, in path order.
pub fn find(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = files.len();
            search(input, DEPTH, &mut files)?;
            if files.len() == before {
                bail!(
                    "{}: no {SUMMARY} in it nor in its folders ({DEPTH} levels down); name a shard's \
                     file directly if it has another name",
                    input.display()
                );
            }
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

fn search(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let listing = || format!("reading the directory {}", dir.display());
    let mut paths = std::fs::read_dir(dir)
        .with_context(listing)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(listing)?;
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if depth > 0 {
                search(&path, depth - 1, out)?;
            }
        } else if path.file_name().is_some_and(|n| n == SUMMARY) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one shard's summary back into the run it describes.
pub fn read(path: &Path) -> anyhow::Result<ShardRun> {
    let summary = Summary::read(path)?;
    let Some(shard) = summary.meta.shard else {
        bail!(
            "{}: not a shard's summary (it has no meta.shard): run each shard with --shard I/N",
            path.display()
        );
    };
    let results = summary
        .into_results()
        .with_context(|| format!("merging {}", path.display()))?;
    Ok(ShardRun {
        path: path.to_owned(),
        shard,
        results,
    })
}

/// What makes a summary a shard of the same run as another.
pub(super) struct Identity<'a> {
    pub(super) path: &'a Path,
    pub(super) shard: Shard,
    pub(super) scenario: &'a str,
    pub(super) phase: Option<&'a str>,
    pub(super) model: Model,
}

impl<'a> Identity<'a> {
    pub(super) fn of(run: &'a ShardRun) -> Self {
        Self {
            path: &run.path,
            shard: run.shard,
            scenario: &run.results.meta.scenario,
            phase: run.results.meta.phase.as_deref(),
            model: run.results.meta.model,
        }
    }
}

/// Refuses anything but every shard 1..N of one run, each once.
pub(super) fn check(ids: &[Identity<'_>]) -> anyhow::Result<()> {
    let Some(first) = ids.first() else {
        bail!("no summaries to merge");
    };
    let (a, count) = (first.path.display(), first.shard.count);
    for id in ids {
        let b = id.path.display();
        if id.shard.count != count {
            bail!(
                "{a} is shard {} but {b} is shard {}: the shards of one run have the same N",
                first.shard,
                id.shard
            );
        }
        if id.scenario != first.scenario {
            bail!(
                "{a} ran scenario {} but {b} ran {}: only the shards of one run merge",
                first.scenario,
                id.scenario
            );
        }
        if id.phase != first.phase {
            let name =
                |p: Option<&str>| p.map_or_else(|| "no phase".to_owned(), |p| format!("phase {p}"));
            bail!(
                "{a} ran {} but {b} ran {}: only the shards of one run merge",
                name(first.phase),
                name(id.phase)
            );
        }
        if id.model != first.model {
            bail!(
                "{a} ran the {} model but {b} the {}: only the shards of one run merge",
                first.model,
                id.model
            );
        }
    }
    let mut seen: Vec<Option<&Path>> = vec![None; count];
    for id in ids {
        let slot = &mut seen[id.shard.index - 1];
        if let Some(other) = slot {
            bail!(
                "{} and {} are both shard {}: each shard is merged once",
                other.display(),
                id.path.display(),
                id.shard
            );
        }
        *slot = Some(id.path);
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| seen[i - 1].is_none())
        .map(|index| Shard { index, count }.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "shard {} missing: {} of the {count} given; a merge needs every shard of the run",
            missing.join(", "),
            count - missing.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(path: &str, index: usize, count: usize) -> Identity<'_> {
        Identity {
            path: Path::new(path),
            shard: Shard { index, count },
            scenario: "browse",
            phase: None,
            model: Model::Closed,
        }
    }

    fn refused(ids: &[Identity<'_>]) -> String {
        let e = check(ids).unwrap_err().to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        e
    }

    #[test]
    fn every_shard_once_merges() {
        check(&[id("c", 3, 3), id("a", 1, 3), id("b", 2, 3)]).unwrap();
        check(&[id("a", 1, 1)]).unwrap();
    }

    #[test]
    fn an_incomplete_or_mixed_set_is_refused_naming_the_files() {
        let e = refused(&[id("a.json", 1, 4), id("c.json", 3, 4)]);
        assert!(
            e.starts_with("shard 2/4, 4/4 missing: 2 of the 4 given"),
            "{e}"
        );
        let e = refused(&[id("a.json", 1, 4), id("b.json", 2, 3)]);
        assert!(
            e.contains("a.json is shard 1/4 but b.json is shard 2/3"),
            "{e}"
        );
        let e = refused(&[id("a.json", 2, 2), id("b.json", 2, 2)]);
        assert!(e.contains("a.json and b.json are both shard 2/2"), "{e}");
        let other = Identity {
            scenario: "shop",
            ..id("b.json", 2, 2)
        };
        let e = refused(&[id("a.json", 1, 2), other]);
        assert!(
            e.contains("a.json ran scenario browse but b.json ran shop"),
            "{e}"
        );
        let other = Identity {
            phase: Some("smoke"),
            ..id("b.json", 2, 2)
        };
        let e = refused(&[id("a.json", 1, 2), other]);
        assert!(e.contains("ran no phase but b.json ran phase smoke"), "{e}");
        let other = Identity {
            model: Model::Open,
            ..id("b.json", 2, 2)
        };
        let e = refused(&[id("a.json", 1, 2), other]);
        assert!(e.contains("the closed model but b.json the open"), "{e}");
        assert!(check(&[]).is_err());
    }

    #[test]
    fn directories_are_searched_for_summaries() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["s2", "s1", "s1/deeper/still/too-deep"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join(SUMMARY), "{}").unwrap();
        }
        std::fs::write(dir.path().join("s1/other.json"), "{}").unwrap();
        let found = find(&[dir.path().to_owned()]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["s1/summary.json", "s2/summary.json"]);
        let empty = tempfile::tempdir().unwrap();
        let e = find(&[empty.path().to_owned()]).unwrap_err().to_string();
        assert!(e.contains("no summary.json in it"), "{e}");
    }
}
