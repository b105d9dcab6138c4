//! The load models, driven by one controller task that also takes the engine handle's commands.
//! Closed (Locust's): N users loop tasks with think time, ramped up and down at the spawn rate,
//! stage after stage; an edit (new users and spawn rate) ramps there at its rate, like Locust's
//! Edit. Open (k6's arrival rate, wrk2's correction): iterations start on a schedule; a free user
//! takes the oldest due start from a multi-consumer channel (no lock shared by the users), its
//! latency counted from the intended start; a start that waits longer than `max_lag` for a user is
//! dropped and counted, never skipped silently. Every loop here ends by itself: the last stage's
//! end is a deadline that no command can remove, only replace by another finite one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
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

/// What the engine handle asks of a running load.
#[derive(Debug)]
pub enum Command {
    /// Ramp to `users` at `spawn_rate` for the rest of the run (closed model).
    SetUsers { users: usize, spawn_rate: f64 },
    /// Replace what is left of the run by these stages, starting now.
    SetStages(Vec<Stage>),
    /// Pause (true) or resume (false) new iterations; tasks in hand finish.
    Pause(bool),
    /// End the run: users finish within the stop timeout.
    Stop,
}

/// Where a run is, in Locust's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Spawning,
    Running,
    Paused,
    Stopping,
    Stopped,
}

impl State {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Spawning,
            1 => Self::Running,
            2 => Self::Paused,
            3 => Self::Stopping,
            _ => Self::Stopped,
        }
    }
}

/// Counters the aggregator and the handle read while the run goes.
#[derive(Default)]
pub struct Live {
    pub users: Arc<AtomicUsize>,
    /// The users the run is heading for (the current stage's or an edit's).
    pub target_users: AtomicUsize,
    pub dropped: AtomicU64,
    state: AtomicU8,
}

impl Live {
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Relaxed))
    }

    fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Relaxed);
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
        if d.is_zero() {
            return self.is_set();
        }
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a stop between the two is not missed.
        notified.as_mut().enable();
        if self.is_set() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_set(),
            _ = notified => true,
        }
    }

    /// Waits while the run is paused; true when stopped meanwhile (or the run is over).
    /// `seen` is the pause state this user last read.
    async fn wait_resumed(&self, paused: &mut watch::Receiver<bool>, seen: &mut bool) -> bool {
        // Every iteration passes here: unless the state changed, two atomic loads, no lock and
        // no waiter registered.
        if !*seen && matches!(paused.has_changed(), Ok(false)) {
            return self.is_set();
        }
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return true;
            }
            *seen = *paused.borrow_and_update();
            if !*seen {
                return false;
            }
            tokio::select! {
                changed = paused.changed() => if changed.is_err() { return true },
                _ = notified => return true,
            }
        }
    }
}

struct Running {
    stop: Arc<Stop>,
    handle: JoinHandle<()>,
}

/// What the users of a run share besides the scenario.
struct Crew {
    shared: Arc<Shared>,
    events: Sender,
    paused: watch::Receiver<bool>,
    running: Vec<Running>,
    next_index: u64,
}

/// The stages that ran, as the handle shaped them: the plan's, then any edit or replacement.
pub struct Ran {
    pub stages: Vec<Stage>,
}

/// Runs the plan, obeying `commands`, until the last stage ends or a Stop; returns when every
/// user has stopped, with the stages as they ran.
pub async fn run(
    plan: Plan,
    shared: Arc<Shared>,
    events: Sender,
    live: Arc<Live>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> Ran {
    let (pause_tx, paused) = watch::channel(false);
    let mut crew = Crew {
        shared,
        events,
        paused,
        running: Vec::new(),
        next_index: 0,
    };
    let mut control = Control {
        stages: plan.stages.clone(),
        current: 0,
        stage_end: Instant::now(),
        open: plan.open_model(),
        max_lag: plan.max_lag,
        live: Arc::clone(&live),
    };
    let (starts, queue) = flume::unbounded::<Instant>();
    control.begin_stage(0, &crew.events);
    control.grow_pool(&mut crew, &queue);
    let mut schedule = control.schedule();
    let mut next_change = Instant::now();
    // A dropped handle leaves the run to end with its last stage.
    let mut steered = true;
    'run: loop {
        let now = Instant::now();
        if now >= control.stage_end {
            if !control.next_stage(&crew.events) {
                break;
            }
            control.grow_pool(&mut crew, &queue);
            schedule = control.schedule();
            next_change = Instant::now();
            continue;
        }
        let is_paused = *pause_tx.borrow();
        let ramping = !control.open && crew.running.len() != control.target_users();
        live.set_state(match (is_paused, ramping) {
            (true, _) => State::Paused,
            (false, true) => State::Spawning,
            (false, false) => State::Running,
        });
        let mut wake = control.stage_end;
        if ramping {
            // Closed model: one user more or fewer per step of the spawn rate.
            if now >= next_change {
                if crew.running.len() < control.target_users() {
                    crew.spawn_closed();
                } else if let Some(user) = crew.running.pop() {
                    user.stop.stop();
                }
                live.users.store(crew.running.len(), Ordering::Relaxed);
                next_change += control.spawn_step();
                continue;
            }
            wake = wake.min(next_change);
        } else if control.open
            && !is_paused
            && let Some(due) = schedule.send_due(now, control.stage_end, &starts)
        {
            wake = wake.min(due);
        }
        let wake = wake.min(now + Duration::from_millis(100));
        tokio::select! {
            biased;
            command = commands.recv(), if steered => match command {
                None => steered = false,
                Some(Command::Stop) => break 'run,
                Some(Command::Pause(p)) => {
                    let _ = pause_tx.send(p);
                    if !p {
                        // Starts due while paused were not asked for: the schedule goes on from now.
                        schedule.restart();
                    }
                }
                Some(Command::SetUsers { users, spawn_rate }) => {
                    control.edit(users, spawn_rate, &crew.events);
                    control.grow_pool(&mut crew, &queue);
                    next_change = Instant::now();
                }
                Some(Command::SetStages(stages)) => {
                    if control.replace(stages, &crew.events) {
                        control.grow_pool(&mut crew, &queue);
                        schedule = control.schedule();
                        next_change = Instant::now();
                    } else {
                        break 'run;
                    }
                }
            },
            () = tokio::time::sleep_until(wake) => {}
        }
    }
    live.set_state(State::Stopping);
    drop(starts);
    // Starts still queued when time is up never ran: they are dropped, and counted.
    let left = queue.drain().count() as u64;
    if left > 0 {
        let _ = crew.events.send(Event::Dropped(left));
        live.dropped.fetch_add(left, Ordering::Relaxed);
    }
    stop_all(crew.running, plan.stop_timeout, &live).await;
    drop(pause_tx);
    Ran {
        stages: control.stages,
    }
}

/// The controller's view of the stages: which one runs, until when, and with what target.
struct Control {
    stages: Vec<Stage>,
    current: usize,
    stage_end: Instant,
    open: bool,
    max_lag: Duration,
    live: Arc<Live>,
}

impl Control {
    fn stage(&self) -> Option<&Stage> {
        self.stages.get(self.current)
    }

    fn target_users(&self) -> usize {
        self.stage().map_or(0, |s| s.users)
    }

    fn spawn_step(&self) -> Duration {
        let rate = self.stage().map_or(1.0, |s| s.spawn_rate);
        Duration::from_secs_f64(1.0 / rate.max(0.001))
    }

    fn begin_stage(&mut self, index: usize, events: &Sender) {
        self.current = index;
        let duration = self.stage().map_or(Duration::ZERO, |s| s.duration);
        self.stage_end = Instant::now() + duration;
        self.live
            .target_users
            .store(self.target_users(), Ordering::Relaxed);
        let _ = events.send(Event::Stage(index));
    }

    /// Moves to the next stage; false when the run is over.
    fn next_stage(&mut self, events: &Sender) -> bool {
        if self.current + 1 >= self.stages.len() {
            return false;
        }
        self.begin_stage(self.current + 1, events);
        true
    }

    /// Locust's Edit: a stage of its own (so its numbers stay apart), until the run's end.
    fn edit(&mut self, users: usize, spawn_rate: f64, events: &Sender) {
        let arrival_rate = self.stage().and_then(|s| s.arrival_rate);
        let left = self.end_stage_now();
        self.stages.push(Stage {
            name: format!("edit: {}", Stage::default_name(users, arrival_rate)),
            users,
            spawn_rate,
            duration: left,
            arrival_rate,
        });
        let index = self.stages.len() - 1;
        self.begin_stage(index, events);
    }

    /// Ends the stage in progress now (it lasted as long as it ran) and drops the stages after it;
    /// returns the time the run had left.
    fn end_stage_now(&mut self) -> Duration {
        let unused = self.stage_end.saturating_duration_since(Instant::now());
        let later: Duration = self.stages[self.current + 1..]
            .iter()
            .map(|s| s.duration)
            .sum();
        self.stages.truncate(self.current + 1);
        if let Some(stage) = self.stages.last_mut() {
            stage.duration = stage.duration.saturating_sub(unused);
        }
        unused + later
    }

    /// Replaces the rest of the run by `stages` (of the run's own model: the handle checks);
    /// false when they are empty (the run ends).
    fn replace(&mut self, stages: Vec<Stage>, events: &Sender) -> bool {
        if stages.is_empty() {
            return false;
        }
        self.end_stage_now();
        let first = self.stages.len();
        self.stages.extend(stages);
        self.begin_stage(first, events);
        true
    }

    /// The open model's starts of the stage in progress.
    fn schedule(&self) -> Schedule {
        Schedule::new(self.stage().and_then(|s| s.arrival_rate))
    }

    /// Open model: enough users for the busiest stage still to come (the pool never shrinks:
    /// an idle user costs a few kilobytes). The closed model's users follow the ramp instead.
    fn grow_pool(&self, crew: &mut Crew, queue: &flume::Receiver<Instant>) {
        if !self.open {
            return;
        }
        let most = self.stages[self.current..]
            .iter()
            .map(|s| s.users)
            .max()
            .unwrap_or(1)
            .max(1);
        while crew.running.len() < most {
            crew.spawn_open(queue.clone(), self.max_lag);
        }
        self.live.users.store(crew.running.len(), Ordering::Relaxed);
    }
}

/// The open model's starts of one stage: `begin + k / rate`.
struct Schedule {
    interval: Option<Duration>,
    begin: Instant,
    k: u32,
}

impl Schedule {
    fn new(rate: Option<f64>) -> Self {
        Self {
            interval: rate
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            begin: Instant::now(),
            k: 0,
        }
    }

    fn restart(&mut self) {
        self.begin = Instant::now();
        self.k = 0;
    }

    /// Sends every start due by `now` (the timer's granularity never lowers the rate); returns
    /// when the next one is due, None when the stage has no more.
    fn send_due(
        &mut self,
        now: Instant,
        end: Instant,
        starts: &flume::Sender<Instant>,
    ) -> Option<Instant> {
        let interval = self.interval?;
        loop {
            let intended = self.begin + interval * self.k;
            if intended >= end {
                return None;
            }
            if intended > now {
                return Some(intended);
            }
            let _ = starts.send(intended);
            self.k += 1;
        }
    }
}

impl Crew {
    /// The next user, with its stop signal.
    fn next_user(&mut self) -> (Arc<Stop>, User) {
        let user = User::new(
            self.next_index,
            Arc::clone(&self.shared),
            self.events.clone(),
        );
        self.next_index += 1;
        (Arc::new(Stop::default()), user)
    }

    fn spawn_closed(&mut self) {
        let (stop, mut user) = self.next_user();
        let mut paused = self.paused.clone();
        let mut seen = false;
        let handle = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut started = user.start().await;
                while !stop.wait_resumed(&mut paused, &mut seen).await {
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
        self.running.push(Running { stop, handle });
    }

    fn spawn_open(&mut self, queue: flume::Receiver<Instant>, max_lag: Duration) {
        let (stop, mut user) = self.next_user();
        let events = self.events.clone();
        let handle = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut started = user.start().await;
                loop {
                    let intended = tokio::select! {
                        s = queue.recv_async() => s.ok(),
                        () = stop.notify.notified() => None,
                    };
                    let Some(intended) = intended else { break };
                    if stop.is_set() {
                        break;
                    }
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
        self.running.push(Running { stop, handle });
    }
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
    live.set_state(State::Stopped);
}
