//! The method registry: one entry per method we serve — name, scope gate, where its params
//! are specified, and how its handler runs. `hello-ok.features.methods` is generated from
//! this table, so what is advertised is exactly what is served; the dispatcher
//! ([`super::dispatch`]) is the only consumer of the handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use openclaw_proto::{ErrorShape, RequestFrame};
use serde_json::Value;

use super::{agent, chat, config, logs, secrets, sessions, system, Ctx};
use crate::responder::Responder;

/// What a handler answers.
pub type Answer = Result<Value, ErrorShape>;
/// A boxed, owned handler future.
pub type Fut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a handler runs relative to its socket's read loop.
#[derive(Clone, Copy)]
pub enum Run {
    /// Answers at once, on the read loop (no await).
    Now(fn(&Ctx, &RequestFrame<'_>) -> Answer),
    /// May wait (store reads, timers): runs beside the read loop, concurrently with the
    /// socket's other requests, under the socket's in-flight limit.
    Waits(fn(Ctx, RequestFrame<'static>) -> Fut<Answer>),
    /// Changes state: runs beside the read loop, in arrival order with the socket's other
    /// ordered requests (a `chat.send` is durable before a later `chat.abort` looks).
    Ordered(fn(Ctx, RequestFrame<'static>) -> Fut<Answer>),
    /// Like [`Run::Ordered`], answering through the responder itself (an ack first, events,
    /// and for `agent` the final reply from the run engine).
    Replies(fn(Ctx, RequestFrame<'static>, Responder) -> Fut<()>),
}

/// Who may call a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The protocol's method → scope table (`openclaw_proto::required_scope`).
    Table,
    /// Any authenticated socket (the Node gateway answers `health` so, observed).
    AnyAuthed,
}

/// Where the accepted params of a method are specified (walked by the e2e param test).
#[derive(Clone, Copy, Debug)]
pub enum Params {
    /// A `…Params` definition of the 2026.9.6 schema export.
    Schema96(&'static str),
    /// A `…Params` definition only the 2026.9.1 schema has.
    Schema91(&'static str),
    /// No published schema: these properties, as the Node gateway reads them (observed).
    Observed(&'static [&'static str]),
}

/// One served method.
#[derive(Clone, Copy)]
pub struct Method {
    /// Wire name.
    pub name: &'static str,
    /// Scope gate.
    pub gate: Gate,
    /// Its params' specification.
    pub params: Params,
    /// The handler.
    pub run: Run,
    /// Listed in `hello-ok.features.methods` (the Node gateway serves a few methods it does
    /// not advertise: `chat.inject`, `sessions.get`).
    pub advertise: bool,
    /// Unknown params are refused (`at root: unexpected property`); `false` for the methods
    /// whose Node handler checks fields by hand and ignores the rest (observed).
    pub strict: bool,
}

impl Method {
    /// Served but not advertised.
    const fn hidden(self) -> Self {
        Method {
            advertise: false,
            ..self
        }
    }

    /// Ignores unknown params.
    pub(super) const fn loose(self) -> Self {
        Method {
            strict: false,
            ..self
        }
    }
}

macro_rules! now {
    (|$c:ident, $r:ident| $body:expr) => {
        $crate::rpc::registry::Run::Now(
            |$c: &$crate::rpc::Ctx, $r: &::openclaw_proto::RequestFrame<'_>| {
                $crate::rpc::worded($r, $body)
            },
        )
    };
}
macro_rules! waits {
    ($kind:ident, |$c:ident, $r:ident| $body:expr) => {
        $crate::rpc::registry::Run::$kind(
            |$c: $crate::rpc::Ctx, $r: ::openclaw_proto::RequestFrame<'static>| {
                Box::pin(async move {
                    let ($c, $r) = (&$c, &$r);
                    $crate::rpc::worded($r, $body.await)
                })
            },
        )
    };
}
macro_rules! replies {
    (|$c:ident, $r:ident, $resp:ident| $body:expr) => {
        Run::Replies(|$c: Ctx, $r: RequestFrame<'static>, $resp: Responder| {
            Box::pin(async move {
                let ($c, $r) = (&$c, &$r);
                $body.await
            })
        })
    };
}

pub(super) use {now, waits};

pub(super) const fn m(name: &'static str, params: Params, run: Run) -> Method {
    Method {
        name,
        gate: Gate::Table,
        params,
        run,
        advertise: true,
        strict: true,
    }
}

use Params::{Observed, Schema91, Schema96};

/// The core methods: system, config, agents, chat, sessions. The operator surface, the
/// Control UI's methods and automations are in `super::surface::SURFACE`; [`all`] is both.
pub static METHODS: &[Method] = &[
    // System.
    Method {
        gate: Gate::AnyAuthed,
        ..m(
            "health",
            Observed(&["probe"]),
            now!(|c, r| system::health(c, r)),
        )
        .loose()
    },
    m(
        "status",
        Observed(&["includeChannelSummary", "includeCliProjection"]),
        waits!(Waits, |c, r| system::status(c, r)),
    )
    .loose(),
    m(
        "system-presence",
        Observed(&[]),
        now!(|c, r| system::presence(c, r)),
    )
    .loose(),
    m(
        "system-event",
        Observed(system::SYSTEM_EVENT_KEYS),
        now!(|c, r| system::system_event(c, r)),
    ),
    m(
        "last-heartbeat",
        Observed(&[]),
        now!(|c, r| system::last_heartbeat(c, r)),
    )
    .loose(),
    m(
        "set-heartbeats",
        Observed(&["enabled"]),
        now!(|c, r| system::set_heartbeats(c, r)),
    )
    .loose(),
    m(
        "gateway.identity.get",
        Observed(&[]),
        now!(|c, r| system::identity(c, r)),
    )
    .loose(),
    m(
        "logs.tail",
        Schema96("LogsTailParams"),
        waits!(Waits, |c, r| logs::tail(c, r)),
    ),
    m(
        "config.get",
        Schema96("ConfigGetParams"),
        now!(|c, r| config::config_get(c, r)),
    ),
    m(
        "models.list",
        Schema96("ModelsListParams"),
        now!(|c, r| config::models_list(c, r)),
    ),
    m(
        "secrets.reload",
        Schema91("SecretsReloadParams"),
        waits!(Ordered, |c, r| secrets::reload(c, r)),
    )
    .loose(),
    // Agent runs.
    m(
        "agent",
        Schema96("AgentParams"),
        replies!(|c, r, resp| agent::agent(c, r, resp)),
    ),
    m(
        "agent.wait",
        Schema91("AgentWaitParams"),
        waits!(Waits, |c, r| agent::wait(c, r)),
    ),
    m(
        "agent.identity.get",
        Schema96("AgentIdentityParams"),
        now!(|c, r| agent::identity(c, r)),
    ),
    m(
        "agents.list",
        Schema96("AgentsListParams"),
        waits!(Waits, |c, r| agent::list(c, r)),
    ),
    // Chat.
    m(
        "chat.send",
        Schema96("ChatSendParams"),
        replies!(|c, r, resp| chat::send(c, r, resp)),
    ),
    m(
        "chat.history",
        Schema96("ChatHistoryParams"),
        waits!(Waits, |c, r| chat::history(c, r)),
    ),
    m(
        "chat.abort",
        Schema96("ChatAbortParams"),
        waits!(Ordered, |c, r| async { chat::abort(c, r, false) }),
    ),
    m(
        "chat.inject",
        Schema96("ChatInjectParams"),
        waits!(Ordered, |c, r| chat::inject(c, r)),
    )
    .hidden(),
    // Sessions.
    m(
        "sessions.list",
        Schema96("SessionsListParams"),
        waits!(Waits, |c, r| sessions::list(c, r)),
    ),
    m(
        "sessions.get",
        Observed(sessions::GET_KEYS),
        waits!(Waits, |c, r| sessions::get(c, r)),
    )
    .loose()
    .hidden(),
    m(
        "sessions.reset",
        Schema96("SessionsResetParams"),
        waits!(Ordered, |c, r| sessions::reset(c, r)),
    ),
    m(
        "sessions.delete",
        Schema96("SessionsDeleteParams"),
        waits!(Ordered, |c, r| sessions::delete(c, r)),
    ),
    m(
        "sessions.abort",
        Schema96("SessionsAbortParams"),
        waits!(Ordered, |c, r| async { chat::abort(c, r, true) }),
    ),
    m(
        "sessions.subscribe",
        Observed(&[]),
        now!(|c, r| sessions::subscribe(c, r)),
    ),
    m(
        "sessions.messages.subscribe",
        Schema96("SessionsMessagesSubscribeParams"),
        now!(|c, r| sessions::messages_subscribe(c, r, true)),
    ),
    m(
        "sessions.messages.unsubscribe",
        Schema96("SessionsMessagesUnsubscribeParams"),
        now!(|c, r| sessions::messages_subscribe(c, r, false)),
    ),
];

/// Events this gateway emits (advertised in `hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "presence",
    "health",
    "heartbeat",
    "shutdown",
    "device.pair.resolved",
    "config.changed",
    "agent",
    "chat",
    "session.message",
    "sessions.changed",
    "cron",
    "users.prefs.changed",
    "node.pair.requested",
    "node.pair.resolved",
    "node.invoke.request",
    "node.invoke.cancel",
    "node.hostStats",
    "device.pair.requested",
    "device.pair.changed",
    "exec.approval.requested",
    "exec.approval.resolved",
];

/// Every method this gateway serves, in table order.
pub fn all() -> impl Iterator<Item = &'static Method> {
    METHODS
        .iter()
        .chain(super::surface::SURFACE.iter())
        .chain(super::node_table::NODES.iter())
}

/// The method named `name`, if we serve it.
pub fn lookup(name: &str) -> Option<&'static Method> {
    lookup_indexed(name).map(|(_, m)| m)
}

/// The method named `name` and its index in [`all`]'s order, if we serve it.
pub fn lookup_indexed(name: &str) -> Option<(usize, &'static Method)> {
    type ByName = HashMap<&'static str, (usize, &'static Method)>;
    static BY_NAME: OnceLock<ByName> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            crate::metrics::init_rpc(all().map(|m| m.name));
            all().enumerate().map(|(i, m)| (m.name, (i, m))).collect()
        })
        .get(name)
        .copied()
}

/// The names of every advertised method, in table order (`hello-ok.features.methods`).
pub fn method_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| all().filter(|m| m.advertise).map(|m| m.name).collect())
}

/// `hello-ok.features.capabilities`: the Node gateway's promises that hold here.
/// - `published-model-catalog`: `models.list` publishes the configured catalogue (the stock
///   CLI's `openclaw models list` refuses to run without it).
/// - `session-scoped-model-catalog`: `models.list` takes `sessionKey`/`agentId` and answers
///   the catalogue that session or agent may use (here: the configured one for every
///   session, with `accountSelection`).
///
/// The other 19 Node capabilities name features we do not have (boards, node workers,
/// session settings preconditions, setup wizard, …) and are not claimed.
pub const CAPABILITIES: &[&str] = &["published-model-catalog", "session-scoped-model-catalog"];
