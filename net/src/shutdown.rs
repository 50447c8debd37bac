//! Shutdown: one watch signal for "stop", and a drain counter that tells when every
//! connection task has ended (bounded by a deadline the caller picks).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// Cloneable shutdown token plus live-connection tracking.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
    live: Arc<Live>,
}

#[derive(Debug, Default)]
struct Live {
    n: AtomicUsize,
    zero: Notify,
}

/// Held by every connection task; dropping it counts the connection as drained.
#[derive(Debug)]
pub struct ConnToken(Arc<Live>);

impl Drop for ConnToken {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A fresh, un-triggered token.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: Arc::new(tx),
            rx,
            live: Arc::new(Live::default()),
        }
    }

    /// Signal everyone to stop. Idempotent.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// `true` once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once triggered.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Count a new live connection.
    pub fn track(&self) -> ConnToken {
        self.live.n.fetch_add(1, Ordering::AcqRel);
        ConnToken(self.live.clone())
    }

    /// Live connections right now.
    pub fn live(&self) -> usize {
        self.live.n.load(Ordering::Acquire)
    }

    /// Wait until every tracked connection ended, or `deadline` passed. Returns `true` when
    /// fully drained.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let wait = async {
            loop {
                let n = self.live.zero.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                if self.live() == 0 {
                    return;
                }
                n.await;
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok()
    }
}
