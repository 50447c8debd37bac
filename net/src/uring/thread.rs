//! One ring's thread: a current-thread tokio runtime that builds the ring (SINGLE_ISSUER: only
//! this thread enters it, so a completion's kernel work runs here, on the thread that
//! handles it, not on whichever tokio worker submitted it), runs the ring's driver, and
//! runs the connections handed to it ([`super::RingPool::spawn`]): a socket's reads, its
//! requests, its replies and its writes stay on one thread. After a stop (or a failure)
//! it waits for the pool's stop, then ends. What the driver does is [`super::ring`]'s.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::{ring, Shared};

thread_local! {
    /// The ring whose thread this is (none on other threads).
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// Inside a [`WakeBatch`]: the rings whose driver wake-up it holds.
    static HELD: RefCell<Option<Vec<Arc<Shared>>>> = const { RefCell::new(None) };
}

/// While alive, the ring wake-ups a fan-out causes on this thread are held, and each ring
/// is woken once when it drops: a ring on another thread then finds the whole fan-out in
/// its inbox (one turn, one submit) instead of a trickle of small turns that race the
/// publisher. Nested batches join the outermost.
#[derive(Debug)]
pub struct WakeBatch {
    outer: bool,
}

impl WakeBatch {
    /// Hold this thread's ring wake-ups until the returned guard drops.
    pub fn begin() -> WakeBatch {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            let outer = h.is_none();
            if outer {
                *h = Some(Vec::new());
            }
            WakeBatch { outer }
        })
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if self.outer {
            let held = HELD.with(|h| h.borrow_mut().take());
            held.into_iter()
                .flatten()
                .for_each(|s| s.notify.notify_one());
        }
    }
}

/// Rings whose wake-up this thread's batch holds (tests only).
#[cfg(test)]
pub(super) fn held() -> usize {
    HELD.with(|h| h.borrow().as_ref().map_or(0, Vec::len))
}

/// Inside a batch, note that `ring` needs a wake-up at its end; `false` outside one.
pub(super) fn hold(ring: &Arc<Shared>) -> bool {
    HELD.with(|h| match h.borrow_mut().as_mut() {
        Some(held) => {
            if !held.iter().any(|s| Arc::ptr_eq(s, ring)) {
                held.push(ring.clone());
            }
            true
        }
        None => false,
    })
}

/// The ring of the thread we are on, if it is a ring thread.
pub(super) fn current() -> Option<Arc<Shared>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The period of a ring thread's anchor timer. tokio's timer wakes its driver (an eventfd
/// write, then an `epoll_wait` that returns at once) whenever a timer is registered that is
/// due before every timer already pending, even from the driver's own thread while it runs.
/// With no timer pending, each connection's handshake deadline and close linger did so: four
/// syscalls per connection. A timer that is always pending and due within this period keeps
/// new deadlines later than it. Shorter than the default close linger (1 s), so that
/// registers quietly too; it costs each ring two wake-ups a second when idle.
pub const TIMER_ANCHOR_PERIOD: Duration = Duration::from_millis(500);

/// Keep a timer pending on this thread's runtime (see [`TIMER_ANCHOR_PERIOD`]); ends with it.
async fn timer_anchor(period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// A running ring thread.
pub(super) struct Started {
    /// Its runtime (connections are spawned there).
    pub handle: Handle,
    /// Resolves once the thread has ended (its runtime dropped).
    pub ended: oneshot::Receiver<()>,
}

/// Start ring `i`'s thread; returns once the ring is built there, or with the kernel's
/// refusal (the thread has then ended).
pub(super) fn start(
    i: usize,
    shared: Arc<Shared>,
    seq_prefix: &'static [u8],
    direct_below: usize,
) -> std::io::Result<Started> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (ended_tx, ended) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("openclaw-ring-{i}"))
        .spawn(move || run(shared, seq_prefix, direct_below, ready_tx, ended_tx))?;
    // A short wait at start-up (the ring's setup), before anything is served.
    let handle = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the ring thread ended before its ring was built"))??;
    Ok(Started { handle, ended })
}

fn run(
    shared: Arc<Shared>,
    seq_prefix: &'static [u8],
    direct_below: usize,
    ready: mpsc::Sender<std::io::Result<Handle>>,
    ended: oneshot::Sender<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let built = {
        let _in = rt.enter();
        ring::build(shared.clone(), seq_prefix, direct_below)
    };
    let (r, event) = match built {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(shared.clone()));
    if ready.send(Ok(rt.handle().clone())).is_ok() {
        rt.block_on(async {
            tokio::spawn(timer_anchor(TIMER_ANCHOR_PERIOD));
            ring::drive(r, event).await;
            // A failed ring's connections end here too (they have seen the end of their
            // sockets); the thread goes with the pool's stop.
            while !shared.stop.load(Ordering::SeqCst) {
                shared.notify.notified().await;
            }
        });
    }
    CURRENT.with(|c| c.borrow_mut().take());
    // Connections still running past the drain are dropped with the runtime, here.
    drop(rt);
    let _ = ended.send(());
}
