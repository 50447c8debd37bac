//! The store layer's one failure type. What a client sees of it is decided in
//! `crate::failure` (never the database's own text); the text is for the log.

/// A failed read or write of the SQLite state store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The writer thread (or the read pool) of the named store has stopped.
    #[error("{0} store stopped")]
    Stopped(&'static str),
    /// SQLite refused a statement or a commit.
    #[error("sqlite: {0}")]
    Sql(String),
    /// The database file or its folder could not be created or opened.
    #[error("io: {0}")]
    Io(String),
    /// A blocking read task failed (panicked or was cancelled).
    #[error("read task: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}
