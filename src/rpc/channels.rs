//! Chat channels: this gateway ships none. `channels.status` and `channels.pairing.list`
//! answer the 2026.9.6 shapes of a gateway with no channel configured, and `send` /
//! `message.action` refuse with the Node gateway's errors for an unconfigured channel
//! (observed on the wire), so the stock CLI reports the gateway reachable and the channel
//! missing.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Value};

use super::agent::{check_keys, opt_str, req_str};
use super::{params, Ctx};
use crate::clock::now_ms;

/// Pending pairing requests kept per channel account (the Node gateway's limits).
const PAIRING_PENDING_PER_ACCOUNT: u64 = 3;
/// How long a pairing request lives (one hour).
const PAIRING_TTL_MS: u64 = 3_600_000;

/// `channels.status {probe?, timeoutMs?, channel?}`: no channels; `probe` has nothing to
/// probe. The runtime block is the gateway's real scheduler/CPU monitor.
pub fn status(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["probe", "timeoutMs", "channel"], req.method())?;
    if let Some(ch) = opt_str(&p, "channel", req.method())? {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("unknown channel: {ch}"),
        ));
    }
    Ok(json!({
        "ts": now_ms(),
        "channelOrder": [],
        "channelLabels": {},
        "channelDetailLabels": {},
        "channelSystemImages": {},
        "channelMeta": [],
        "eventLoop": c.gw.monitor.event_loop(),
        "channels": {},
        "channelAccounts": {},
        "channelDefaultAccountId": {},
        "statusIssues": [],
    }))
}

/// `channels.pairing.list {channel?, accountId?}`: no channel accounts, no requests; naming
/// a channel is refused as unknown (as the Node gateway does for one that is not set up).
pub fn pairing_list(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p: Value = params(req)?;
    check_keys(&p, &["channel", "accountId"], req.method())?;
    if let Some(ch) = opt_str(&p, "channel", req.method())? {
        return Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("Error: unknown pairing channel: {ch}"),
        ));
    }
    Ok(json!({
        "accounts": [],
        "requests": [],
        "commandOwnerConfigured": false,
        "limits": { "pendingPerAccount": PAIRING_PENDING_PER_ACCOUNT, "ttlMs": PAIRING_TTL_MS },
    }))
}

/// Every property of the 2026.9.6 `SendParams`; none can be acted on without a channel.
const SEND_KEYS: &[&str] = &[
    "to",
    "message",
    "mediaUrl",
    "mediaUrls",
    "buffer",
    "filename",
    "contentType",
    "asVoice",
    "gifPlayback",
    "channel",
    "accountId",
    "agentId",
    "replyToId",
    "threadId",
    "forceDocument",
    "silent",
    "parseMode",
    "sessionKey",
    "idempotencyKey",
];

/// What the Node gateway answers for a channel it knows but that is not configured; other
/// names are unsupported (observed for `send` to each).
fn unconfigured(channel: &str) -> ErrorShape {
    let queued = |m: &str| {
        ErrorShape::new(
            ErrorCode::Unavailable,
            format!("OutboundDeliveryError: {m}"),
        )
        .with_details(json!({ "code": "OUTBOUND_DELIVERY_QUEUED" }))
    };
    match channel {
        "telegram" => queued(
            "Telegram bot token missing for account \"default\" (set \
             channels.telegram.accounts.default.botToken/tokenFile or TELEGRAM_BOT_TOKEN for default).",
        ),
        "reef" => queued("Reef channel is not running"),
        "webchat" => ErrorShape::new(
            ErrorCode::InvalidRequest,
            "unsupported channel: webchat (internal-only). Use `chat.send` for WebChat UI messages \
             or choose a deliverable channel.",
        ),
        other => ErrorShape::new(
            ErrorCode::InvalidRequest,
            format!("unsupported channel: {other}"),
        ),
    }
}

/// `send {to, idempotencyKey, channel?, …}`: no channel can deliver it.
pub fn send(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let m = req.method();
    let p: Value = params(req)?;
    check_keys(&p, SEND_KEYS, m)?;
    req_str(&p, "to", m)?;
    req_str(&p, "idempotencyKey", m)?;
    match opt_str(&p, "channel", m)?
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(ch) => Err(unconfigured(&ch.to_ascii_lowercase())),
        None => Err(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "Error: Channel is required (no configured channels detected). Run openclaw channels \
             add to configure one, or pass --channel <channel> after enabling a channel. Use \
             openclaw channels list --all to see available channel ids.",
        )),
    }
}

/// `message.action {channel, action, params, idempotencyKey, …}`: no channel supports any
/// action here.
pub fn action(_: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let m = req.method();
    let p: Value = params(req)?;
    check_keys(
        &p,
        &[
            "channel",
            "action",
            "params",
            "reply",
            "accountId",
            "requesterAccountId",
            "requesterSenderId",
            "senderIsOwner",
            "sessionKey",
            "sessionId",
            "inboundTurnKind",
            "agentId",
            "toolContext",
            "conversationReadOrigin",
            "idempotencyKey",
        ],
        m,
    )?;
    let channel = req_str(&p, "channel", m)?;
    let action = req_str(&p, "action", m)?;
    if !p.get("params").is_some_and(Value::is_object) {
        return Err(ErrorShape::invalid_params(
            m,
            "must have required property 'params'",
        ));
    }
    req_str(&p, "idempotencyKey", m)?;
    if channel.eq_ignore_ascii_case("telegram") {
        // The Node gateway's bundled Telegram plugin answers before looking at the action.
        return Err(ErrorShape::new(
            ErrorCode::Unavailable,
            "Error: Telegram bot token missing. Set TELEGRAM_BOT_TOKEN or channels.telegram.botToken.",
        ));
    }
    Err(ErrorShape::new(
        ErrorCode::InvalidRequest,
        format!("Channel {channel} does not support action {action}."),
    ))
}
