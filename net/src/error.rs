//! The one error enum of the transport crate.

/// Errors raised by the transport. Socket-level failures of a single connection never
/// surface here: they end that connection and are logged.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Binding or configuring the listening socket failed.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error on the listener or a socket.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
