//! Running one request of an authenticated socket: look the method up, gate it, and run its
//! handler where the registry says — on the read loop, beside it, or in the socket's ordered
//! lane — so a request that waits never stalls the socket's reads, pings or close.
//!
//! Per socket, [`Lane`] holds the in-flight budget and the ordered lane; both are created on
//! first use, so an idle socket that only ever calls quick methods carries neither.

use std::sync::Arc;

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::registry::{self, Fut, Gate, Run};
use super::{gate, Ctx};
use crate::responder::Responder;

pub use crate::config::limits::DEFAULT_MAX_INFLIGHT_PER_SOCKET as MAX_INFLIGHT_PER_SOCKET;

/// Per-socket dispatch state.
#[derive(Debug, Default)]
pub struct Lane {
    inflight: Option<Arc<Semaphore>>,
    ordered: Option<mpsc::UnboundedSender<Fut<()>>>,
    /// Waiting requests (reads, `agent.wait`): cancelled when the socket goes, so nothing
    /// waits on for a client that left (the Node gateway keeps them and drains them at
    /// shutdown). Ordered requests (state changes) always run to the end.
    waiting: Vec<tokio::task::AbortHandle>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        for h in &self.waiting {
            h.abort();
        }
    }
}

fn too_busy(limit: usize) -> ErrorShape {
    ErrorShape::new(
        ErrorCode::Unavailable,
        format!("too many requests in flight on this connection (limit {limit})"),
    )
    .retryable(true)
}

impl Lane {
    /// Answer `req` from `ctx`'s socket. `limit` is the socket's in-flight budget.
    pub fn dispatch(&mut self, ctx: &Ctx, req: RequestFrame<'_>, limit: usize) {
        let name = req.method();
        let found = registry::lookup_indexed(name);
        let mut resp = Responder::new(req.id(), name, ctx.sock.out.clone(), ctx.sock.conn);
        if let Some((i, _)) = found {
            resp = resp.with_slot(i);
        }
        let m = found.map(|(_, m)| m);
        let g = m.map_or(Gate::Table, |m| m.gate);
        if let Err(e) = gate(name, g, &ctx.who) {
            return resp.reply(Err(e));
        }
        let Some(m) = m else {
            let e = if name == "connect" {
                ErrorShape::new(
                    ErrorCode::InvalidRequest,
                    "connect is only valid as the first request",
                )
            } else {
                ErrorShape::unknown_method(name)
            };
            return resp.reply(Err(e));
        };
        if let Run::Now(f) = m.run {
            return resp.reply(f(ctx, &req));
        }
        let Some(permit) = self.permit(limit) else {
            return resp.reply(Err(too_busy(limit)));
        };
        let req = req.into_owned();
        match m.run {
            Run::Now(_) => unreachable!("answered above"),
            Run::Waits(f) => {
                let fut = f(ctx.clone(), req);
                let task = tokio::spawn(async move {
                    let _permit = permit;
                    resp.reply(fut.await);
                });
                self.waiting.retain(|h| !h.is_finished());
                self.waiting.push(task.abort_handle());
            }
            Run::Ordered(f) => {
                let fut = f(ctx.clone(), req);
                self.ordered(Box::pin(async move {
                    let _permit = permit;
                    resp.reply(fut.await);
                }));
            }
            Run::Replies(f) => {
                let fut = f(ctx.clone(), req, resp);
                self.ordered(Box::pin(async move {
                    let _permit = permit;
                    fut.await;
                }));
            }
        }
    }

    fn permit(&mut self, limit: usize) -> Option<OwnedSemaphorePermit> {
        self.inflight
            .get_or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone()
            .try_acquire_owned()
            .ok()
    }

    /// Queue `job` behind the socket's earlier ordered requests. Each runs as its own task
    /// (a panic answers its request through the responder's drop and spares the lane).
    fn ordered(&mut self, job: Fut<()>) {
        let tx = self.ordered.get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Fut<()>>();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    let _ = tokio::spawn(job).await;
                }
            });
            tx
        });
        let _ = tx.send(job);
    }
}
