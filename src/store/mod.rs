//! Durable state in SQLite (bundled), `$STATE/state/openclaw.sqlite`: paired devices with
//! their tokens, and the gateway's own identity. One writer thread owns the connection and
//! commits queued writes in groups; callers await their commit, never blocking a runtime
//! worker. Reads are served from an in-memory copy loaded at start. Both stores share one
//! group-commit writer ([`group`]) and one failure type ([`StoreError`]).

/// Open a SQLite file for the stores: WAL, `synchronous=FULL` (a commit is on disk when it
/// is acknowledged), a busy timeout for the moments another connection holds the lock.
///
/// # Errors
/// The file cannot be opened or configured.
pub fn open_wal(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let c = match power_cut::from_env() {
        // Tests only: every store connection shares the simulated page cache.
        Some(vfs) => rusqlite::Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            vfs,
        )?,
        None => rusqlite::Connection::open(path)?,
    };
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(c)
}

pub mod checkpoint;
pub mod devices;
mod error;
pub mod group;
pub mod nodes;
pub mod power_cut;

pub use devices::{DeviceRecord, DeviceStore};
pub use error::StoreError;
pub mod sessions;

pub use sessions::SessionStore;
