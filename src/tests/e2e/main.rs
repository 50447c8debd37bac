//! End-to-end suite: every test starts the real gateway on 127.0.0.1:0 and drives it with a
//! real WebSocket/HTTP client. Every frame received is validated against the 2026.9.6 schema
//! export where it defines the shape, else ../shared/schema/protocol.schema.json (`schema.rs`).

// A test device identity (Ed25519, device-auth payloads).
mod device_key;
// The schema check every received frame goes through.
mod schema;
mod upstream;
mod util;

// The handshake happy path and the frame-level schema check (more topics in sibling files).
mod smoke;
// Pre-auth refusals, protocol negotiation, handshake deadline, raw close frames, pipelining.
mod handshake;
// Control frames under a per-socket budget (ping floods).
mod control_frames;
// The method registry: advertised = served, the 9.6 param walk, hello-ok ordering under a
// broadcast storm, waiting requests beside the read loop, the in-flight limit.
mod registry;
// What the 2026.9.6 params we accept do (status projection, list filters, maxBytes, …).
mod params96;
mod params_worded;
// Tier 1 system RPCs: scope gate, error shapes, strict params, result shapes, logs.tail.
mod rpc;
// Connect auth: token, password, none, failed-auth lockout, trusted-proxy.
mod auth;

// The real binary: signals, exit codes, startup guards, EADDRINUSE, EMFILE back-off.
mod lifecycle;
// Server-pushed events: per-socket seq, presence lifecycle, tick, shutdown, scope gating.
mod events;
// Device identity: auto-approval, signatures, device tokens, Control UI rules.
mod devices;
// Fan-out: slow consumers are dropped/closed without slowing others; 1 → 200 broadcast.
mod fanout;
// HTTP on the gateway port: probes, headers, disabled surfaces, Control UI, 1000-connect burst.
mod http;
mod http_head;
// The operator CLI (real binary): health, status, gateway status|probe|call, logs --follow.
mod cli;
// Local operator commands (real binary): setup, gateway install|uninstall|start|stop|restart.
mod service;
// Config hot reload, invalid edits, in-process restart (config change, SIGUSR1).
mod reload;
// Model providers (OpenAI / Anthropic dialects) against the scripted upstream.
mod providers;
// Reload modes `restart` (every edit restarts) and `off` (edits ignored).
mod reload_modes;
// `openclaw doctor`: checks, verdicts, exit codes, `--fix`, `--json`.
mod doctor;
// `secrets.reload` / `openclaw secrets reload`: file SecretRefs re-read live, refusals, scope.
mod secrets;
// `openclaw --dev setup|gateway|status` with a temporary HOME.
mod dev;
// Agent runs, chat and sessions over WebSocket against the scripted upstreams.
mod agents;
// Agent runs that fail or fall back, timeouts, the Anthropic dialect.
mod agents_failures;
// Inputs of a run: provider keys from env/headers, chat.send image attachments.
mod agents_inputs;
// status / health / hello-ok after real activity (sessions, models, runs in flight).
mod status;
// kill -9 of the real binary mid-run: acknowledged messages and progress survive.
mod agents_crash;
// A simulated power cut: unsynced writes lost or landed partly, then a restart.
mod power_cut;
// The OpenAI-compatible HTTP surface (/v1/*) against the scripted upstream.
mod openai;
// What sessionless /v1 requests leave in the store, read right after each answer.
mod openai_sessions;
// The official openai Python SDK against our /v1 surface.
mod openai_sdk;
// HTTP auth matrix of /v1/*: password, none + x-openclaw-scopes, lockout.
mod openai_auth;
// POST /tools/invoke: built-in tools, deny list, auth, limits.
mod tools_invoke;
// Webhooks (hooks.*): token auth and lockout, wake, agent, mappings, limits.
mod hooks;
// README claims checked in process: draining probes, Control UI, proxy auth, pairing.
mod claims;
// README claims about runs and sessions: chat.send survives its socket, abort, filters.
mod claims_sessions;
// README claims checked on the real binary: restart switch, custom bind, --verbose, systemd.
mod claims_bin;
// The operator surface: channels, approvals, users, usage, diagnostics, skills, hooks, wake.
mod operator;
// Automations: cron.* shapes and events, firing on the paused clock, restarts, catch-up.
mod cron;
// Serving a Control UI build: the app shell for deep links, precompressed assets, hello-ok.
mod control_ui;
// What the Control UI calls at boot and on its chat page.
mod ui_methods;
// Settings and set-up from the Control UI: config schema and writes, pasted provider keys,
// the owner's preferences and themes.
mod settings;
// Nodes: pairing of a node's surface, node.invoke and its error paths.
mod nodes;
// Device pairing that needs an operator: requests, approval, rename, tokens, removal.
mod pairing;
// Exec approvals: approval clients, decisions, expiry.
mod exec_approvals;
// Prometheus metrics: the switch, auth, and what is counted.
mod metrics;
// Work queued for nodes, node presence, a node's exec approvals; the gateway's own policy.
mod nodes_work;
// Scope upgrades of a paired device, and revoked device tokens.
mod device_upgrade;
/// The io_uring writer runtime: chosen, used, shut down cleanly, refused with a fallback.
mod runtime;
