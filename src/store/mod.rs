//! Durable state in SQLite (bundled), `$STATE/state/openclaw.sqlite`: paired devices with
//! their tokens, and the gateway's own identity. One writer thread owns the connection and
//! commits queued writes in groups; callers await their commit, never blocking a runtime
//! worker. Reads are served from an in-memory copy loaded at start. Both stores share one
//! group-commit writer ([`group`]) and one failure type ([`StoreError`]).

pub mod devices;
mod error;
pub mod group;

pub use devices::{DeviceRecord, DeviceStore};
pub use error::StoreError;
pub mod sessions;

pub use sessions::SessionStore;
