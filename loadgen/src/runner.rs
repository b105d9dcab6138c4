//! The load models. Closed (Locust's): N users loop tasks with think time, ramped up and down at the
//! spawn rate, stage after stage. Open (k6's arrival rate, wrk2's correction): iterations start on
//! a schedule; a free user takes the oldest due start, its latency counted from the intended start;
//! a start that waits longer than `max_lag` for a user is dropped and counted, never skipped
//! silently. Every loop here ends by itself when the last stage's time is up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stats::{Event, Sender};
use crate::user::{Shared, User};

/// One step of the load.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    /// Users (closed model) or the most users busy at once (open model).
    pub users: usize,
    /// Users started or stopped per second on the way to `users`.
    pub spawn_rate: f64,
    pub duration: Duration,
    /// Open model: iterations started per second.
    pub arrival_rate: Option<f64>,
}

impl Stage {
    /// The name of a stage nobody named: its rate (open model) or its users.
    pub fn default_name(users: usize, arrival_rate: Option<f64>) -> String {
        match arrival_rate {
            Some(rate) => format!("{rate}/s"),
            None => format!("{users} users"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<Stage>,
    /// How long users may finish their task at the end before they are stopped.
    pub stop_timeout: Duration,
    /// Open model: the longest a start may wait for a free user.
    pub max_lag: Duration,
}

impl Plan {
    pub fn open_model(&self) -> bool {
        self.stages.iter().any(|s| s.arrival_rate.is_some())
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }
}

/// A user's stop signal: set at ramp-down or at the end; waits wake at once.
#[derive(Default)]
struct Stop {
    set: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn stop(&self) {
        self.set.store(true, Ordering::Relaxed);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Relaxed)
    }

    /// Sleeps `d` unless stopped first; true when stopped.
    async fn sleep(&self, d: Duration) -> bool {
        // No wait at all (Locust's default): a zero sleep would still cost a timer tick (1 ms).
        if self.is_set() || d.is_zero() {
            return self.is_set();
        }
        let notified = self.notify.notified();
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_set(),
            _ = notified => true,
        }
    }
}

struct Running {
    stop: Arc<Stop>,
    handle: JoinHandle<()>,
}

/// Counters the console and the report read while the run goes.
#[derive(Default)]
pub struct Live {
    pub users: Arc<AtomicUsize>,
    pub dropped: AtomicU64,
}

/// Runs the plan; returns when every user has stopped. `cancel` ends it early (Ctrl-C).
pub async fn run(
    plan: &Plan,
    shared: Arc<Shared>,
    events: Sender,
    live: Arc<Live>,
    cancel: Arc<Notify>,
) {
    let cancelled = Arc::new(AtomicBool::new(false));
    let watcher = {
        let cancel = Arc::clone(&cancel);
        let cancelled = Arc::clone(&cancelled);
        tokio::spawn(async move {
            cancel.notified().await;
            cancelled.store(true, Ordering::Relaxed);
        })
    };
    if plan.open_model() {
        open(plan, shared, events, &live, &cancelled).await;
    } else {
        closed(plan, shared, events, &live, &cancelled).await;
    }
    watcher.abort();
}

async fn closed(
    plan: &Plan,
    shared: Arc<Shared>,
    events: Sender,
    live: &Live,
    cancelled: &AtomicBool,
) {
    let mut running: Vec<Running> = Vec::new();
    let mut next_index = 0u64;
    'stages: for (i, stage) in plan.stages.iter().enumerate() {
        let _ = events.send(Event::Stage(i));
        let end = Instant::now() + stage.duration;
        let step = Duration::from_secs_f64(1.0 / stage.spawn_rate.max(0.001));
        let mut next_change = Instant::now();
        loop {
            if cancelled.load(Ordering::Relaxed) {
                break 'stages;
            }
            let now = Instant::now();
            if now >= end {
                break;
            }
            if running.len() != stage.users && now >= next_change {
                if running.len() < stage.users {
                    running.push(spawn_closed(next_index, &shared, &events));
                    next_index += 1;
                } else if let Some(user) = running.pop() {
                    user.stop.stop();
                }
                live.users.store(running.len(), Ordering::Relaxed);
                next_change += step;
                continue;
            }
            let wake = if running.len() == stage.users {
                end
            } else {
                next_change.min(end)
            };
            tokio::time::sleep_until(wake.min(now + Duration::from_millis(100))).await;
        }
    }
    stop_all(running, plan.stop_timeout, live).await;
}

fn spawn_closed(index: u64, shared: &Arc<Shared>, events: &Sender) -> Running {
    let stop = Arc::new(Stop::default());
    let mut user = User::new(index, Arc::clone(shared), events.clone());
    let handle = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut started = user.start().await;
            while !stop.is_set() {
                let task = user.pick_task();
                user.run_task(task, None, started).await;
                started = true;
                let wait = user.wait_time();
                if stop.sleep(wait).await {
                    break;
                }
            }
        })
    };
    Running { stop, handle }
}

/// Stops every user: they finish the task in hand within `stop_timeout`, then are cut off
/// (Locust's `--stop-timeout`, default 0: at once).
async fn stop_all(running: Vec<Running>, stop_timeout: Duration, live: &Live) {
    for user in &running {
        user.stop.stop();
    }
    let deadline = Instant::now() + stop_timeout;
    for user in running {
        let mut handle = user.handle;
        if tokio::time::timeout_at(deadline, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            let _ = handle.await;
        }
    }
    live.users.store(0, Ordering::Relaxed);
}

async fn open(
    plan: &Plan,
    shared: Arc<Shared>,
    events: Sender,
    live: &Live,
    cancelled: &AtomicBool,
) {
    let (starts, queue) = mpsc::unbounded_channel::<Instant>();
    let queue = Arc::new(Mutex::new(queue));
    let most = plan
        .stages
        .iter()
        .map(|s| s.users)
        .max()
        .unwrap_or(1)
        .max(1);
    let max_lag = plan.max_lag;
    let mut running = Vec::with_capacity(most);
    for index in 0..most as u64 {
        let stop = Arc::new(Stop::default());
        let mut user = User::new(index, Arc::clone(&shared), events.clone());
        let queue = Arc::clone(&queue);
        let events = events.clone();
        let handle = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut started = user.start().await;
                loop {
                    let intended = {
                        let mut q = queue.lock().await;
                        tokio::select! {
                            s = q.recv() => s,
                            () = stop.notify.notified() => None,
                        }
                    };
                    let Some(intended) = intended else { break };
                    let lag = Instant::now().saturating_duration_since(intended);
                    if lag > max_lag {
                        let _ = events.send(Event::Dropped(1));
                        continue;
                    }
                    let task = user.pick_task();
                    user.run_task(task, Some(lag), started).await;
                    started = true;
                }
            })
        };
        running.push(Running { stop, handle });
    }
    live.users.store(most, Ordering::Relaxed);

    'stages: for (i, stage) in plan.stages.iter().enumerate() {
        let _ = events.send(Event::Stage(i));
        let rate = stage.arrival_rate.unwrap_or(0.0);
        let begin = Instant::now();
        let end = begin + stage.duration;
        if rate <= 0.0 {
            tokio::time::sleep_until(end).await;
            continue;
        }
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut k: u32 = 0;
        loop {
            if cancelled.load(Ordering::Relaxed) {
                break 'stages;
            }
            let intended = begin + interval * k;
            if intended >= end {
                break;
            }
            let now = Instant::now();
            if intended > now {
                tokio::time::sleep_until(intended).await;
            }
            // Every start due by now goes out at once: the timer's granularity never lowers the rate.
            let now = Instant::now();
            while begin + interval * k <= now && begin + interval * k < end {
                let _ = starts.send(begin + interval * k);
                k += 1;
            }
        }
    }
    drop(starts);
    // Starts still queued when time is up never ran: they are dropped, and counted.
    let left = {
        let mut q = queue.lock().await;
        let mut n = 0u64;
        while q.try_recv().is_ok() {
            n += 1;
        }
        n
    };
    if left > 0 {
        let _ = events.send(Event::Dropped(left));
        live.dropped.fetch_add(left, Ordering::Relaxed);
    }
    stop_all(running, plan.stop_timeout, live).await;
}
