//! The ready-made deployments under deploy/. The Kubernetes manifest is read as the API's own
//! batch/v1 Job and written back: serde skips a field it does not know, so a misspelled one
//! (`completionmode`) would read as a valid Job quietly missing its setting; the typed Job must
//! give back the very YAML it came from. Then what makes it loadgen's sharded run: an Indexed Job
//! whose pods run shard `JOB_COMPLETION_INDEX + 1` of its N completions, with flags and
//! environment that `loadgen run` has. Last, the pod's script and collect.sh carry a summary from
//! a pod's log back to a file byte for byte, with stand-ins for loadgen and kubectl (no cluster
//! needed; the compose path is run for real by .ci/compose-smoke.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory as _, Parser as _};
use k8s_openapi::api::batch::v1::Job;

const MANIFEST: &str = "deploy/kubernetes/loadgen-job.yaml";
const COLLECT: &str = "deploy/kubernetes/collect.sh";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The typed Job of `text`, if it reads and gives back the same YAML value, else why not.
fn typed_job(text: &str) -> Result<Job, String> {
    let value: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let job: Job = serde_norway::from_value(value.clone()).map_err(|e| e.to_string())?;
    let back = serde_norway::to_value(&job).map_err(|e| e.to_string())?;
    if back != value {
        return Err(format!(
            "the typed Job is not the YAML it was read from (a misspelled or misplaced field?)\n\
             --- as written:\n{}\n--- as batch/v1 Job reads it:\n{}",
            serde_norway::to_string(&value).unwrap(),
            serde_norway::to_string(&back).unwrap()
        ));
    }
    Ok(job)
}

fn manifest() -> (String, Job) {
    let text = std::fs::read_to_string(root().join(MANIFEST)).unwrap();
    let job = typed_job(&text).unwrap_or_else(|e| panic!("{MANIFEST}: {e}"));
    (text, job)
}

/// The pod's one container's shell script (`sh -c SCRIPT`).
fn script(job: &Job) -> String {
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.containers.len(), 1, "one container: loadgen");
    let container = &pod.containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".to_owned()][..])
    );
    let args = container.args.as_deref().unwrap();
    assert_eq!(args.len(), 1, "the script is the one argument of sh -c");
    args[0].clone()
}

#[test]
fn the_manifest_is_a_batch_v1_job_field_for_field() {
    let (text, job) = manifest();
    assert_eq!(job.metadata.name.as_deref(), Some("loadgen"));
    // The check has teeth: a misspelled field, a number as text, a field one level off.
    for (right, wrong) in [
        ("completionMode:", "completionmode:"),
        ("parallelism: 4", "parallelism: \"4\""),
        (
            "  backoffLimit: 0",
            "  backoffLimit: 0\n  restartPolicy: Never",
        ),
    ] {
        assert!(text.contains(right), "{right}");
        assert!(
            typed_job(&text.replacen(right, wrong, 1)).is_err(),
            "{wrong:?} went unnoticed"
        );
    }
}

#[test]
fn its_pods_run_shard_index_plus_one_of_its_completions() {
    let (_, job) = manifest();
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let n = spec.completions.unwrap();
    assert!(n >= 2, "a sharded run has two pods or more");
    assert_eq!(
        spec.parallelism,
        Some(n),
        "every shard runs at once: parallelism == completions"
    );
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let script = script(&job);
    // Kubernetes counts from 0, loadgen's shards from 1, and N is the Job's.
    assert!(
        script.contains(&format!("shard=\"$((JOB_COMPLETION_INDEX + 1))/{n}\"")),
        "the script names shard $((JOB_COMPLETION_INDEX + 1))/{n}:\n{script}"
    );
    let run = script
        .lines()
        .find(|l| l.trim_start().starts_with("loadgen run"))
        .expect("the script runs `loadgen run`");
    assert!(run.contains("--shard \"$shard\""), "{run}");
    // The command line and the environment are `loadgen run`'s own flags and variables.
    let words: Vec<String> = run
        .replace("\"$shard\"", &format!("2/{n}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Err(e) = loadgen::cli::Cli::try_parse_from(&words) {
        panic!("{MANIFEST}: `{run}` is not a loadgen command line: {e}");
    }
    let run_command = loadgen::cli::Cli::command();
    let known: BTreeSet<String> = run_command
        .find_subcommand("run")
        .unwrap()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let env = pod.containers[0].env.as_deref().unwrap_or_default();
    assert!(!env.is_empty());
    for var in env {
        assert!(
            known.contains(&var.name),
            "{MANIFEST}: {} is not a variable loadgen run reads",
            var.name
        );
    }
}

/// Writes an executable shell script.
fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A summary-sized text that base64 has to wrap over many lines.
fn summary_bytes() -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let numbers: Vec<String> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 100_000).to_string()
        })
        .collect();
    format!("{{\"schema_version\":1,\"n\":[{}]}}\n", numbers.join(","))
}

/// The pod's script, with a stand-in `loadgen` that writes `summary` where `--json` says and
/// exits `code`: its exit code, and its log (stdout).
fn run_pod(script: &str, index: u32, summary: &str, code: u8) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.path().join("summary.source"), summary).unwrap();
    executable(
        &bin.join("loadgen"),
        &format!(
            "#!/bin/sh\n\
             echo \"$*\" > \"$WORK/args\"\n\
             while [ $# -gt 0 ]; do\n\
               if [ \"$1\" = --json ] && [ {code} -ne 2 ]; then cp \"$WORK/summary.source\" \"$2\"; fi\n\
               shift\n\
             done\n\
             echo 'the final report, on stdout'\n\
             exit {code}\n"
        ),
    );
    // The pod's working directory (/app), with the emptyDir at reports/.
    let work = dir.path().join("app");
    std::fs::create_dir_all(work.join("reports")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(&work)
        .env("PATH", path)
        .env("WORK", dir.path())
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .output()
        .expect("/bin/sh runs the pod's script");
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        args,
    )
}

#[test]
fn a_pods_summary_comes_back_from_its_log_byte_for_byte() {
    let (_, job) = manifest();
    let script = script(&job);
    let n = job.spec.as_ref().unwrap().completions.unwrap();
    let summary = summary_bytes();

    // Exit 1 (the shard's own thresholds) is not the pod's failure; the log carries the summary.
    let (code, log, args) = run_pod(&script, 2, &summary, 1);
    assert_eq!(code, Some(0), "{log}");
    assert!(args.contains(&format!("--shard 3/{n}")), "{args}");
    assert!(log.contains("loadgen-summary-begin 3/"), "{log}");
    // Exit 2 (the shard could not run) fails the pod, and its log has no summary.
    let (code, failed_log, _) = run_pod(&script, 0, &summary, 2);
    assert_eq!(code, Some(2));
    assert!(
        !failed_log.contains("loadgen-summary-begin"),
        "{failed_log}"
    );

    // collect.sh with a stand-in kubectl serving those two logs.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("loadgen-2-abcde"), &log).unwrap();
    std::fs::write(logs.join("loadgen-0-fghij"), &failed_log).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    executable(
        &bin.join("kubectl"),
        "#!/bin/sh\n\
         case \"$1 $2 $3\" in\n\
           'get pods -l') [ \"$4\" = job-name=loadgen ] && printf 'pod/loadgen-0-fghij\\npod/loadgen-2-abcde\\n' ;;\n\
           logs*) cat \"$LOGS/${2#pod/}\" ;;\n\
           *) echo \"kubectl stand-in: $*\" >&2; exit 1 ;;\n\
         esac\n",
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(root().join(COLLECT))
        .args(["loadgen", "collected"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("LOGS", &logs)
        .output()
        .expect("bash runs collect.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a pod without a summary: {stderr}"
    );
    assert!(
        stderr.contains("loadgen-0-fghij printed no summary"),
        "{stderr}"
    );
    let collected =
        std::fs::read_to_string(dir.path().join("collected/loadgen-2-abcde/summary.json")).unwrap();
    assert!(collected == summary, "the summary changed on its way");
}
