//! The agent and provider catalogue lives with the config it is resolved from
//! ([`crate::config::catalog`]); re-exported here for the run engine's callers.

pub use crate::config::catalog::*;
