//! openclaw-proto: OpenClaw Gateway protocol v4 — frames, codec, errors, scopes, method table, connect params, device-auth payloads.
//!
//! Pure data and parsing: no tokio, no sockets. Inbound frames are parsed with sonic-rs
//! ([`parse_inbound`]); outbound frames are encoded once into [`bytes::Bytes`]
//! ([`res_ok`], [`res_err`], [`event_parts`]).

#![deny(missing_docs)]

pub mod close;
pub mod connect;
mod connect_check;
pub mod device;
pub mod encode;
pub mod error;
pub mod events;
pub mod frame;
pub mod methods;
mod methods_table;
pub mod param_errors;
pub mod scope;

pub use connect::{
    parse_connect_params, ConnectAuth, ConnectClient, ConnectDevice, ConnectParams, CLIENT_IDS,
    CLIENT_MODES, MIN_CLIENT_PROTOCOL_VERSION, MIN_NODE_PROTOCOL_VERSION,
    MIN_PROBE_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use device::{
    payload_v2, payload_v3, signature_token, DeviceAuthFields, DEVICE_SIGNATURE_SKEW_MS,
};
pub use encode::{
    event_full, event_parts, res_err, res_err_payload, res_ok, res_ok_raw, EventParts,
    StateVersion, SEQ_SPLICE_PREFIX,
};
pub use error::{ErrorCode, ErrorShape, ProtoError};
pub use events::event_required_scope;
pub use frame::{parse_inbound, Inbound, RequestFrame};
pub use methods::{method_scope, required_scope, RequiredScope};
pub use scope::{is_known_scope, satisfies, GrantedScopes, Scopes};
