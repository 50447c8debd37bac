//! WebSocket: the upgrade handshake, the per-socket reader loop and writer task.
//!
//! The reader (our cancel-safe frame decoder, which holds no buffer while a socket is idle)
//! joins fragments, answers control frames through the outbound queue and feeds complete
//! messages to the [`WsSession`](crate::WsSession). The writer drains the outbound queue
//! in batches and sends each batch with one vectored write.

mod conn;
pub mod frame;
pub mod handshake;
mod reader;
pub(crate) mod writer;

pub use conn::{run_ws, Admitted};
pub use writer::{frame_header, run_writer};
