//! The one task that owns the numbers: it records every user's events, closes a second each
//! second (the series point, Locust's history row, a live snapshot), and obeys the handle's
//! "reset stats". Users only send; nothing else ever touches a histogram.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::snapshot::Snapshot;
use crate::runner::{Live, State};
use crate::stats::{Event, Recorder};

/// The most events recorded per wake-up before the tick and the handle are looked at again.
const BATCH: usize = 512;

/// What the handle asks of the aggregator.
pub enum Control {
    /// Locust's "Reset stats".
    Reset,
    /// A copy of the numbers so far, closed as at the end of a run (a report of the run so far).
    Copy(tokio::sync::oneshot::Sender<Recorder>),
}

/// Records events until every sender is gone, ticking each second; returns the finished
/// recorder after publishing its last snapshot (state `Stopped`).
pub async fn aggregate(
    mut recorder: Recorder,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut control: mpsc::UnboundedReceiver<Control>,
    live: Arc<Live>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) -> Recorder {
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
                None => control_open = false,
            },
            // In batches: one wake-up of this task records all that arrived since the last.
            n = events.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                recorder.handle_all(batch.drain(..));
            }
        }
    }
    recorder.finish();
    publish(&snapshots, &recorder, &live, State::Stopped);
    recorder
}

fn publish(snapshots: &watch::Sender<Arc<Snapshot>>, r: &Recorder, live: &Live, state: State) {
    snapshots.send_replace(Arc::new(Snapshot::of(r, live, state)));
}
