//! WebSocket: the upgrade handshake, the per-socket reader loop and writer task.
//!
//! The reader (fastwebsockets' frame parser, not cancel-safe, so it runs alone in its task)
//! joins fragments, answers control frames through the outbound queue and feeds complete
//! messages to the [`WsSession`](crate::WsSession). The writer drains the outbound queue
//! in batches and sends each batch with one vectored write.

mod conn;
pub mod handshake;
mod reader;
mod writer;

pub use conn::run_ws;
pub use writer::frame_header;
