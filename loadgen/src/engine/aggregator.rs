//! The one task that owns the numbers: it records every user's events, closes a second each
//! second (the series point, Locust's history row, a live snapshot), and obeys the handle's
//! "reset stats". Users only send; nothing else ever touches a histogram.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::snapshot::Snapshot;
use crate::runner::{Live, State};
use crate::stats::deltas::{LocustDeltas, LocustReport};
use crate::stats::{Event, Recorder};

/// The most events recorded per wake-up before the tick and the handle are looked at again.
const BATCH: usize = 512;

/// What the handle asks of the aggregator.
pub enum Control {
    /// Locust's "Reset stats".
    Reset,
    /// A copy of the numbers so far, closed as at the end of a run (a report of the run so far).
    Copy(tokio::sync::oneshot::Sender<Recorder>),
    /// Locust's worker report: the counts since the last one (None when the run keeps none).
    TakeLocust(tokio::sync::oneshot::Sender<Option<LocustReport>>),
}

/// The unix time now, in seconds (Locust's clock for its per-second counts).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Records events until every sender is gone, ticking each second; returns the finished
/// recorder (and what Locust's report has not taken yet) after publishing its last snapshot
/// (state `Stopped`).
pub async fn aggregate(
    mut recorder: Recorder,
    mut deltas: Option<LocustDeltas>,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut control: mpsc::UnboundedReceiver<Control>,
    live: Arc<Live>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) -> (Recorder, Option<LocustReport>) {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::from_std(recorder.start) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut control_open = true;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            // The tick first: it is ready once a second, and a busy event stream must not starve it.
            biased;
            _ = ticker.tick() => {
                recorder.tick(live.users.load(std::sync::atomic::Ordering::Relaxed));
                publish(&snapshots, &recorder, &live, live.state());
            }
            command = control.recv(), if control_open => match command {
                Some(Control::Reset) => {
                    recorder.reset();
                    // At once, so a reader sees the counts start again from zero.
                    publish(&snapshots, &recorder, &live, live.state());
                }
                Some(Control::Copy(reply)) => {
                    let mut copy = recorder.clone();
                    copy.finish();
                    let _ = reply.send(copy);
                }
                Some(Control::TakeLocust(reply)) => {
                    let _ = reply.send(deltas.as_mut().map(|d| d.take(unix_now())));
                }
                None => control_open = false,
            },
            // In batches: one wake-up of this task records all that arrived since the last.
            n = events.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                if let Some(d) = &mut deltas {
                    let now = unix_now();
                    for event in &batch {
                        d.observe(event, now);
                    }
                }
                recorder.handle_all(batch.drain(..));
            }
        }
    }
    recorder.finish();
    publish(&snapshots, &recorder, &live, State::Stopped);
    let rest = deltas.map(|mut d| d.take(unix_now()));
    (recorder, rest)
}

fn publish(snapshots: &watch::Sender<Arc<Snapshot>>, r: &Recorder, live: &Live, state: State) {
    snapshots.send_replace(Arc::new(Snapshot::of(r, live, state)));
}
