//! The launcher against real processes: `sh` children (one ignoring SIGTERM, with a grandchild in
//! its group), a health endpoint served by the test itself, children waited for with a deadline,
//! from async and blocking callers, their output where each stream is told, a probe as the
//! health gate, a child in our own group, and `/proc` of this very process.
//! Nothing sleeps to synchronise: readiness is the health check, disappearance is polled with a
//! deadline.

// Helpers outside #[test] fns panic on setup failures too, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use launcher::{Launch, LaunchError, Output, Signal, procfs};
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A health endpoint that answers 200 once `ready` exists (the child writes it when it is set up).
async fn health_when(ready: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ready = ready.to_owned();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let ready = ready.exists();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let answer: &[u8] = if ready {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = socket.write_all(answer).await;
            });
        }
    });
    format!("http://{addr}/healthz")
}

fn pid(raw: u32) -> Pid {
    Pid::from_raw(i32::try_from(raw).unwrap())
}

/// Polls until `gone` holds, failing the test after `within`.
async fn eventually(what: &str, within: Duration, gone: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !gone() {
        assert!(
            Instant::now() < deadline,
            "{what} still there after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A probe: the child has written `path` (after setting itself up).
fn file_exists(path: &Path) -> impl Future<Output = Result<(), String>> + use<> {
    let exists = path.exists();
    async move {
        if exists {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace_period_with_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let grandchild_file = dir.path().join("grandchild");
    // The grandchild inherits the ignored SIGTERM; `mv` makes the pid file appear whole.
    let script = format!(
        "trap '' TERM; sleep 600 & echo $! > {g}.tmp && mv {g}.tmp {g} && touch {r}; wait",
        g = grandchild_file.display(),
        r = ready.display(),
    );
    let grace = Duration::from_millis(300);
    let service = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .health(health_when(&ready).await)
        .deadline(Duration::from_secs(20))
        .grace(grace)
        .start()
        .await
        .unwrap();
    let leader = service.pid();
    let grandchild = read_pid(&grandchild_file);
    assert_eq!(kill(pid(leader), None), Ok(()));
    assert_eq!(kill(pid(grandchild), None), Ok(()));
    assert_eq!(
        nix::unistd::getpgid(Some(pid(grandchild))),
        Ok(pid(leader)),
        "the grandchild is in the child's group"
    );

    let started = Instant::now();
    let stopped = service.stop().await.unwrap();
    assert!(stopped.killed, "SIGTERM was ignored, so it took SIGKILL");
    assert!(
        started.elapsed() >= grace,
        "SIGKILL came before the grace period ended"
    );
    // Reaped: the pid is free at once.
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
    // The grandchild was killed too; its new parent (init) reaps it shortly after.
    eventually("the grandchild", Duration::from_secs(10), || {
        kill(pid(grandchild), None) == Err(Errno::ESRCH)
    })
    .await;
    eventually("the process group", Duration::from_secs(10), || {
        killpg(pid(leader), None) == Err(Errno::ESRCH)
    })
    .await;
}

#[tokio::test]
async fn a_child_that_obeys_sigterm_stops_without_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!("touch {}; exec sleep 600", ready.display());
    let service = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .health(health_when(&ready).await)
        .grace(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let leader = service.pid();
    let started = Instant::now();
    let stopped = service.stop().await.unwrap();
    assert!(!stopped.killed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for the grace period"
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&stopped.status),
        Some(libc_sigterm())
    );
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

#[tokio::test]
async fn dropping_a_service_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!("trap '' TERM; touch {}; exec sleep 600", ready.display());
    let service = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .health(health_when(&ready).await)
        .start()
        .await
        .unwrap();
    let leader = service.pid();
    drop(service);
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
}

#[tokio::test]
async fn a_child_that_exits_early_fails_the_start_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let never = dir.path().join("never");
    let error = Launch::new("sh", dir.path().join("sh.log"))
        .name("the server")
        .args([
            "-c",
            "echo starting; echo 'cannot bind 127.0.0.1: in use' >&2; exit 3",
        ])
        .health(health_when(&never).await)
        .deadline(Duration::from_secs(60))
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(error, LaunchError::Exited { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("the server exited"), "{message}");
    assert!(message.contains("exit status: 3"), "{message}");
    assert!(
        message.contains("cannot bind 127.0.0.1: in use"),
        "{message}"
    );
    assert!(message.contains("starting"), "{message}");
}

#[tokio::test]
async fn a_child_that_says_why_it_exits_is_reported_with_its_reason_first() {
    let dir = tempfile::tempdir().unwrap();
    let never = dir.path().join("never");
    let error = Launch::new("sh", dir.path().join("sh.log"))
        .name("the server")
        .args([
            "-c",
            "echo starting; echo 'error: ImproperlyConfigured: app missing; fix: add it' >&2; exit 2",
        ])
        .health(health_when(&never).await)
        .deadline(Duration::from_secs(60))
        .start()
        .await
        .err()
        .unwrap();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "the server refused to start: ImproperlyConfigured: app missing; fix: add it\n("
        ),
        "{message}"
    );
    assert!(
        message.contains("the server exited (exit status: 2)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_health_check_that_never_answers_fails_at_the_deadline_and_kills_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // Accepts connections and never answers them.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let script = format!(
        "echo $$ > {p}.tmp && mv {p}.tmp {p}; exec sleep 600",
        p = pid_file.display()
    );
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    let error = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .health(url)
        .deadline(deadline)
        .start()
        .await
        .err()
        .unwrap();
    let waited = started.elapsed();
    assert!(matches!(error, LaunchError::NotReady { .. }), "{error}");
    assert!(
        error.to_string().contains("did not answer 2xx within"),
        "{error}"
    );
    assert!(waited >= deadline, "gave up after {waited:?}");
    assert!(
        waited < deadline + Duration::from_secs(5),
        "took {waited:?}"
    );
    let leader = read_pid(&pid_file);
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
}

#[tokio::test]
async fn a_service_without_health_check_is_up_once_spawned() {
    let dir = tempfile::tempdir().unwrap();
    let service = Launch::new("sleep", dir.path().join("sleep.log"))
        .arg("600")
        .grace(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    assert_eq!(service.name(), "sleep");
    let stopped = service.stop().await.unwrap();
    assert!(!stopped.killed);
}

#[test]
fn proc_reads_this_process() {
    let me = std::process::id();
    let before = procfs::stat(me).unwrap();
    // The main thread's state: the test itself runs on another thread.
    assert!(matches!(before.state, 'R' | 'S'), "state {}", before.state);
    assert_eq!(before.ppid, std::os::unix::process::parent_id());
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let after = procfs::stat(me).unwrap();
    assert!(after.cpu_ticks >= before.cpu_ticks);
    assert!(after.cpu_seconds() < 3600.0);

    let memory = procfs::memory(me).unwrap();
    let rss = memory.rss.unwrap();
    assert!(rss > 1024 * 1024, "{rss} bytes resident");
    assert!(memory.peak_rss.unwrap() >= rss);
    assert!(memory.anon_rss.unwrap() <= rss);

    let argv = procfs::cmdline(me).unwrap();
    let exe = std::env::current_exe().unwrap();
    let exe_name = exe.file_name().unwrap().to_string_lossy();
    assert!(argv[0].contains(exe_name.as_ref()), "{argv:?}");
    assert!(procfs::comm(me).is_some());

    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let tree = procfs::tree(me, &procfs::all_stats());
    assert!(tree.contains(&me));
    assert!(tree.contains(&child.id()), "{tree:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(procfs::stat(child.id()), None);
    assert_eq!(procfs::memory(child.id()), None);
}

#[tokio::test]
async fn a_child_that_ends_by_itself_is_waited_for_and_one_that_does_not_is_killed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut quick = Launch::new("sh", dir.path().join("quick.log"))
        .args(["-c", "echo done; exit 4"])
        .start()
        .await
        .unwrap();
    let status = quick.wait(Duration::from_secs(20)).await.unwrap();
    assert_eq!(status.code(), Some(4));
    assert_eq!(quick.try_wait().unwrap(), Some(status), "waiting again");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("quick.log")).unwrap(),
        "done\n"
    );

    let mut slow = Launch::new("sleep", dir.path().join("slow.log"))
        .arg("600")
        .start()
        .await
        .unwrap();
    let leader = slow.pid();
    let error = slow.wait(Duration::from_millis(200)).await.err().unwrap();
    assert!(matches!(error, LaunchError::StillRunning { .. }), "{error}");
    assert_eq!(slow.try_wait().unwrap(), None);
    assert_eq!(kill(pid(leader), None), Ok(()), "still running");
    drop(slow);
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
}

#[test]
fn blocking_callers_wait_and_stop_too() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let start = |script: &str| {
        runtime
            .block_on(
                Launch::new("sh", dir.path().join("sh.log"))
                    .args(["-c", script])
                    .grace(Duration::from_millis(300))
                    .start(),
            )
            .unwrap()
    };
    // Outside the runtime from here on: what a `Drop` or a sync caller does.
    let mut quick = start("exit 3");
    assert_eq!(
        quick.wait_blocking(Duration::from_secs(20)).unwrap().code(),
        Some(3)
    );
    let ready = dir.path().join("ready");
    let mut stubborn = start(&format!(
        "trap '' TERM; touch {}; while :; do sleep 1; done",
        ready.display()
    ));
    runtime
        .block_on(stubborn.ready("the trap", Duration::from_secs(20), || file_exists(&ready)))
        .unwrap();
    let leader = stubborn.pid();
    let started = Instant::now();
    let stopped = stubborn.stop_blocking().unwrap();
    assert!(stopped.killed);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
}

#[tokio::test]
async fn output_goes_where_each_stream_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut split = Launch::new("sh", &err)
        .args(["-c", "echo to-out; echo to-err >&2"])
        .stdout(Output::File(out.clone()))
        .start()
        .await
        .unwrap();
    split.wait(Duration::from_secs(20)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "to-out\n");
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "to-err\n");
    assert_eq!(
        split.log(),
        Some(err.as_path()),
        "errors quote stderr's file"
    );

    // Appended to, as a restarted server's log is.
    for word in ["first", "second"] {
        let mut again = Launch::new("echo", &out)
            .arg(word)
            .append()
            .start()
            .await
            .unwrap();
        again.wait(Duration::from_secs(20)).await.unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "to-out\nfirst\nsecond\n"
    );
    assert_eq!(launcher::log_tail(&out, 2), "first\nsecond");
    assert_eq!(launcher::log_tail(&dir.path().join("none"), 2), "");

    let mut piped = Launch::attached("sh")
        .args(["-c", "echo piped; echo quiet >&2"])
        .stdout(Output::Piped)
        .stderr(Output::Null)
        .start()
        .await
        .unwrap();
    assert_eq!(piped.log(), None);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut piped.take_stdout().unwrap(), &mut text).unwrap();
    assert_eq!(text, "piped\n");
    assert!(piped.take_stdout().is_none(), "taken once");
    assert!(piped.wait(Duration::from_secs(20)).await.unwrap().success());
}

#[tokio::test]
async fn a_probe_gates_readiness_like_the_http_check() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!("sleep 0.3; touch {}; exec sleep 600", ready.display());
    let mut service = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .start()
        .await
        .unwrap();
    service
        .ready("the ready file", Duration::from_secs(20), || {
            file_exists(&ready)
        })
        .await
        .unwrap();
    drop(service);

    let mut dying = Launch::new("sh", dir.path().join("dying.log"))
        .args(["-c", "echo 'error: no config' >&2; exit 2"])
        .start()
        .await
        .unwrap();
    let never = || async { Err::<(), _>("never") };
    let error = dying
        .ready("the config", Duration::from_secs(20), never)
        .await
        .err()
        .unwrap();
    let LaunchError::Exited { status, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(status.code(), Some(2));
    assert!(
        error
            .to_string()
            .starts_with("sh refused to start: no config"),
        "{error}"
    );

    let mut silent = Launch::new("sleep", dir.path().join("silent.log"))
        .arg("600")
        .start()
        .await
        .unwrap();
    let error = silent
        .ready("the nothing", Duration::from_millis(300), never)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, LaunchError::Unanswered { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("the nothing did not answer within 300ms (last: never)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_child_in_our_group_is_signalled_alone() {
    let dir = tempfile::tempdir().unwrap();
    let child = Launch::new("sleep", dir.path().join("sleep.log"))
        .arg("600")
        .share_group()
        .start()
        .await
        .unwrap();
    let ours = nix::unistd::getpgrp();
    assert_eq!(nix::unistd::getpgid(Some(pid(child.pid()))), Ok(ours));
    let leader = child.pid();
    let stopped = child.stop().await.unwrap();
    assert!(!stopped.killed);
    assert_eq!(kill(pid(leader), None), Err(Errno::ESRCH));
    // This test process, in the same group, is still here to say so.
}

#[tokio::test]
async fn a_paused_child_sees_its_stop_signal_and_a_detached_one_outlives_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("interrupted");
    let ready = dir.path().join("ready");
    // SIGUSR1, not SIGINT: a shell started with SIGINT ignored (any test run from a background
    // job, as CI may be) cannot trap it, and the stop would wait out its grace period. `wait` on a
    // background job: a trapped signal ends `wait` at once, so the trap runs as soon as it thaws.
    let script = format!(
        "trap 'touch {}; exit 0' USR1; touch {}; sleep 600 & wait",
        marker.display(),
        ready.display()
    );
    let mut service = Launch::new("sh", dir.path().join("sh.log"))
        .args(["-c", &script])
        .stop_signal(Signal::SIGUSR1)
        .grace(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    service
        .ready("the trap", Duration::from_secs(20), || file_exists(&ready))
        .await
        .unwrap();
    service.pause().unwrap();
    let stopped = service.stop().await.unwrap();
    assert!(!stopped.killed, "thawed, it handled its stop signal");
    assert!(marker.exists());

    let detached = Launch::new("sleep", dir.path().join("sleep.log"))
        .arg("600")
        .start()
        .await
        .unwrap()
        .detach();
    assert_eq!(kill(pid(detached), None), Ok(()), "left running");
    killpg(pid(detached), Signal::SIGKILL).unwrap();
    // Our own child still: reaped here, so no zombie outlives the test.
    nix::sys::wait::waitpid(pid(detached), None).unwrap();
}
