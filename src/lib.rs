//! openclaw-rs: the OpenClaw Gateway (protocol v4) as a multi-threaded Rust server.
//!
//! # Layout
//! - [`config`], [`cli`], [`logging`]: resolving what to run (files, env, flags) and where
//!   logs go. Only `config` reads the environment.
//! - [`server`]: the shared [`server::Gateway`] state, start-up, periodic tasks, shutdown.
//! - [`app`], [`session`], [`connect`]: the transport seam, one WebSocket socket's life,
//!   and the `connect` handshake (auth, devices, scopes, `hello-ok`).
//! - [`auth`], [`store`]: shared secrets, device signatures, rate limits; SQLite state.
//! - [`rpc`]: one file per method group, behind the scope gate.
//! - [`hub`], [`presence`], [`health`]: fan-out, presence list, health snapshot.
//! - [`http`]: probes and the Control UI on the same port.
//!
//! The transport (`openclaw-net`) and the protocol (`openclaw-proto`) are separate crates
//! that never depend on each other.

// Handlers return `Result<Value, ErrorShape>`: the error is the wire reply itself, built on the
// cold path only; boxing every one would add an allocation to each failed request for nothing.
#![allow(clippy::result_large_err)]

pub mod agents;
pub mod alloc;
pub mod app;
pub mod approvals;
pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connect;
pub mod cron;
pub mod diagnostics;
mod error;
pub mod exec_policy;
pub mod failure;
pub mod force;
pub mod health;
pub mod hello;
pub mod http;
pub mod hub;
pub mod json;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod nodes;
pub mod presence;
pub mod procnet;
pub mod profile;
pub mod provider;
pub mod reload;
pub mod responder;
pub mod rings;
pub mod rpc;
pub mod run;
pub mod serve;
pub mod server;
pub mod session;
pub mod store;
pub mod tools;

pub use error::GatewayError;
