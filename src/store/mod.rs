//! Durable state in SQLite (bundled), `$STATE/state/openclaw.sqlite`: paired devices with
//! their tokens, and the gateway's own identity. One writer thread owns the connection and
//! commits queued writes in groups; callers await their commit, never blocking a runtime
//! worker. Reads are served from an in-memory copy loaded at start.

pub mod devices;

pub use devices::{DeviceRecord, DeviceStore};
pub mod sessions;

pub use sessions::SessionStore;
