//! `--shard-dir DIR`: shards that share a directory (a compose bind mount, a volume). Replicas of
//! one compose service are started alike and get no index of their own, so `--shard auto/N` lets
//! each claim one: the lowest index whose claim file `DIR/shard-I-of-N.claim` it can create.
//! The file is made with `create_new` (`O_CREAT | O_EXCL`), which the kernel (or an NFS v3+
//! server) decides atomically, so two processes never hold one shard however they race; no lock
//! file, no coordinator. A shard given as `I/N` claims its own index the same way, so two
//! processes handed the same shard are stopped before either sends load.
//!
//! The shard's summary.json is written to `DIR/shard-I-of-N/summary.json`, where `loadgen merge
//! DIR` finds it. A claim is given back (its file removed) when the run could not happen, so a
//! retried replica can take the index again; it stays once the summary is written, so a directory
//! holds one run: the next run needs an empty one.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::report::Results;
use crate::shard::Shard;

/// `--shard`'s value: a shard named, or `auto/N`, an index claimed in `--shard-dir` at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wanted {
    Given(Shard),
    Auto { count: usize },
}

impl Wanted {
    pub(super) fn parse(text: &str) -> anyhow::Result<Self> {
        let Some(count) = text.trim().strip_prefix("auto/") else {
            return Shard::parse(text).map(Self::Given);
        };
        match count.trim().parse::<usize>() {
            Ok(count) if count >= 1 => Ok(Self::Auto { count }),
            _ => bail!("--shard {text:?}: write auto/N with N at least 1, e.g. auto/4"),
        }
    }
}

/// A shard held in a shared directory. Dropped without [`Claim::finish`], it gives its index
/// back: a run that could not happen leaves nothing behind.
#[derive(Debug)]
pub(super) struct Claim {
    pub(super) shard: Shard,
    dir: PathBuf,
    file: PathBuf,
    kept: bool,
}

fn claim_name(shard: Shard) -> String {
    format!("shard-{}-of-{}.claim", shard.index, shard.count)
}

/// The shard count of a claim file's name, if it is one.
fn claim_count(name: &str) -> Option<usize> {
    let (_, count) = name
        .strip_prefix("shard-")?
        .strip_suffix(".claim")?
        .split_once("-of-")?;
    count.parse().ok()
}

/// Who claims: the host name (a container's id, a pod's name), the pid and the time, so that a
/// refused claim points at the replica, or the earlier run, that holds it.
pub(super) fn holder() -> String {
    // /etc/hostname is what Docker and Kubernetes set per container; elsewhere it may be absent.
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "host {} pid {} at {}",
        if host.is_empty() { "?" } else { &host },
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// Claims `wanted` in `dir` (made if missing). `holder` is written into the claim file, so that
/// a refused claim can say whose it is (a replica's host name, a pid, a time).
pub(super) fn claim(dir: &Path, wanted: Wanted, holder: &str) -> anyhow::Result<Claim> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--shard-dir {}: cannot create it", dir.display()))?;
    let count = match wanted {
        Wanted::Given(shard) => shard.count,
        Wanted::Auto { count } => count,
    };
    refuse_other_counts(dir, count)?;
    let candidates: Vec<Shard> = match wanted {
        Wanted::Given(shard) => vec![shard],
        Wanted::Auto { count } => (1..=count).map(|index| Shard { index, count }).collect(),
    };
    for shard in candidates {
        let file = dir.join(claim_name(shard));
        match OpenOptions::new().write(true).create_new(true).open(&file) {
            Ok(mut f) => {
                let claim = Claim {
                    shard,
                    dir: dir.to_path_buf(),
                    file,
                    kept: false,
                };
                // Only for people reading the directory: the claim is the file's existence.
                f.write_all(format!("{holder}\n").as_bytes())
                    .with_context(|| format!("writing {}", claim.file.display()))?;
                return Ok(claim);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Wanted::Given(shard) = wanted {
                    bail!(
                        "--shard {shard}: already claimed in {} ({}, {}): two processes were given \
                         the same shard, or the directory holds an earlier run (use an empty one)",
                        dir.display(),
                        claim_name(shard),
                        holder_of(&file)
                    );
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("--shard-dir: creating {}", file.display()));
            }
        }
    }
    bail!(
        "--shard auto/{count}: all {count} shards are already claimed in {} (shard-1-of-{count}.claim \
         ... shard-{count}-of-{count}.claim): more replicas than {count}, or the directory holds an \
         earlier run (use an empty one)",
        dir.display()
    )
}

/// Claims of another N mean another run's files: merged with this one's they could only be
/// refused later, after the load was sent.
fn refuse_other_counts(dir: &Path, count: usize) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("--shard-dir {}", dir.display()))?;
    for entry in entries {
        let name = entry
            .with_context(|| format!("--shard-dir {}", dir.display()))?
            .file_name();
        let name = name.to_string_lossy();
        if let Some(other) = claim_count(&name)
            && other != count
        {
            bail!(
                "--shard-dir {}: it holds {name}, a claim of a run of {other} shards, not {count}: \
                 use an empty directory for each run",
                dir.display()
            );
        }
    }
    Ok(())
}

/// What a claim file says about its holder, for an error message.
fn holder_of(file: &Path) -> String {
    match std::fs::read_to_string(file) {
        Ok(text) if !text.trim().is_empty() => format!("held by {}", text.trim()),
        _ => "its holder unknown".to_owned(),
    }
}

impl Claim {
    /// Where this shard's summary.json goes.
    pub(super) fn summary_path(&self) -> PathBuf {
        self.dir
            .join(format!(
                "shard-{}-of-{}",
                self.shard.index, self.shard.count
            ))
            .join("summary.json")
    }

    /// Writes the shard's summary.json and keeps the claim. The file appears whole (written
    /// beside it, then renamed), so a merge started early never reads half of it.
    pub(super) fn finish(mut self, results: &Results) -> anyhow::Result<PathBuf> {
        let path = self.summary_path();
        let text = crate::report::json::render(results)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("renaming {} to summary.json", partial.display()))?;
        self.kept = true;
        Ok(path)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: a claim that cannot be removed only costs a fresh directory later.
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn auto_and_given_shards_read() {
        assert_eq!(Wanted::parse("auto/4").unwrap(), Wanted::Auto { count: 4 });
        assert_eq!(
            Wanted::parse(" 2/4").unwrap(),
            Wanted::Given(Shard { index: 2, count: 4 })
        );
        for bad in ["auto/0", "auto/", "auto/x", "auto"] {
            let e = Wanted::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--shard"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_lowest_free_index_is_claimed_until_none_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let auto = Wanted::Auto { count: 3 };
        let first = claim(dir.path(), auto, "a").unwrap();
        let second = claim(dir.path(), auto, "b").unwrap();
        assert_eq!((first.shard.index, second.shard.index), (1, 2));
        // A claim given back (a run that could not happen) is free again, lowest first.
        drop(first);
        let again = claim(dir.path(), auto, "c").unwrap();
        assert_eq!(again.shard.index, 1);
        let third = claim(dir.path(), Wanted::Given(Shard { index: 3, count: 3 }), "d").unwrap();
        third.finish_for_test();
        let e = claim(dir.path(), auto, "e").unwrap_err().to_string();
        assert!(e.contains("all 3 shards are already claimed"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        drop((second, again));
    }

    #[test]
    fn a_shard_given_twice_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let two = Wanted::Given(Shard { index: 2, count: 4 });
        let held = claim(dir.path(), two, "host web-2 pid 7").unwrap();
        let e = claim(dir.path(), two, "x").unwrap_err().to_string();
        assert!(
            e.contains("--shard 2/4: already claimed") && e.contains("held by host web-2 pid 7"),
            "{e}"
        );
        drop(held);
        // Another N in the same directory is another run: refused before any load.
        held_forever(dir.path(), Wanted::Given(Shard { index: 1, count: 4 }));
        let e = claim(dir.path(), Wanted::Auto { count: 2 }, "y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a run of 4 shards, not 2"), "{e}");
    }

    #[test]
    fn concurrent_claims_never_share_an_index() {
        for (count, processes) in [(8, 8), (4, 16), (16, 5)] {
            let dir = tempfile::tempdir().unwrap();
            let start = Arc::new(Barrier::new(processes));
            let threads: Vec<_> = (0..processes)
                .map(|p| {
                    let dir = dir.path().to_path_buf();
                    let start = Arc::clone(&start);
                    std::thread::spawn(move || {
                        start.wait();
                        claim(&dir, Wanted::Auto { count }, &format!("thread {p}"))
                    })
                })
                .collect();
            let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let mut indices = BTreeSet::new();
            let mut refused = 0;
            for outcome in &outcomes {
                match outcome {
                    Ok(c) => assert!(indices.insert(c.shard.index), "{} twice", c.shard),
                    Err(e) => {
                        assert!(e.to_string().contains("already claimed"), "{e}");
                        refused += 1;
                    }
                }
            }
            // Every index taken once while there were processes for it, the rest refused.
            let taken = count.min(processes);
            assert_eq!(
                indices,
                (1..=taken).collect(),
                "{count} shards, {processes} claims"
            );
            assert_eq!(refused, processes - taken);
        }
    }

    #[test]
    fn the_summary_goes_where_merge_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = claim(dir.path(), Wanted::Given(Shard { index: 2, count: 3 }), "z").unwrap();
        assert_eq!(
            c.summary_path(),
            dir.path().join("shard-2-of-3").join("summary.json")
        );
        assert_eq!(claim_count("shard-2-of-3.claim"), Some(3));
        assert_eq!(claim_count("shard-2-of-3"), None);
    }

    /// A claim kept as a finished run keeps it, without a run's results.
    fn held_forever(dir: &Path, wanted: Wanted) {
        claim(dir, wanted, "earlier run").unwrap().finish_for_test();
    }

    impl Claim {
        fn finish_for_test(mut self) {
            self.kept = true;
        }
    }
}
