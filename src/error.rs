//! The gateway crate's error enum: what can stop the process from starting or serving.
//! Per-request failures are not errors here: they are `ErrorShape` replies on the wire.

/// Errors of the gateway library.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Config could not be loaded, resolved or passed a startup guard.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The SQLite state store failed.
    #[error("state store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Filesystem or socket I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The transport failed (bind).
    #[error(transparent)]
    Net(#[from] openclaw_net::NetError),
}

impl From<rusqlite::Error> for GatewayError {
    fn from(e: rusqlite::Error) -> Self {
        GatewayError::Store(e.into())
    }
}
