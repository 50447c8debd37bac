//! `openclaw logs`: page the gateway's JSON-lines file log through `logs.tail` and print it
//! as `<time> <level> <subsystem> <message>` (or raw with `--json`).
//!
//! `--follow` keeps ONE connection and polls with the cursor every `--interval` ms (the
//! stock CLI reconnects per poll). When the gateway goes away it reconnects with backoff
//! (≤ 30 s, 8 attempts; `UNAVAILABLE` from a gateway shutting down counts too), prints `[logs] gateway reconnected` and continues from the cursor;
//! a `reset:true` page (file rotated/truncated) starts over from the top.

use std::time::Duration;

use serde_json::{json, Value};

use super::{out, Ctx};
use crate::cli::{GlobalArgs, LogsArgs};
use crate::client::{ClientError, ConnectOptions, Flavour, GatewayClient};

/// Reconnect delays after a lost connection (the last one caps the backoff).
const BACKOFF_MS: [u64; 8] = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000];

/// Format one log line: JSON records as `<time> <level> <subsystem> <message>`; other text
/// is returned as is. `utc` prefers the record's UTC timestamp (`_meta.date`).
pub fn format_line(raw: &str, utc: bool) -> String {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(raw) else {
        return raw.to_string();
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let meta = o.get("_meta");
    let meta_date = s(meta.and_then(|m| m.get("date")));
    let time = if utc {
        meta_date.or_else(|| s(o.get("time")))
    } else {
        s(o.get("time")).or(meta_date)
    };
    let level = s(meta.and_then(|m| m.get("logLevelName")))
        .or_else(|| s(o.get("level")))
        .map(|l| l.to_ascii_lowercase());
    let subsystem_of = |v: Option<&Value>| {
        let text = v.and_then(Value::as_str)?;
        let parsed: Value = serde_json::from_str(text).ok()?;
        parsed.get("subsystem")?.as_str().map(str::to_string)
    };
    let subsystem = s(o.get("subsystem"))
        .or_else(|| subsystem_of(meta.and_then(|m| m.get("name"))))
        .or_else(|| subsystem_of(o.get("0")));
    let message = s(o.get("message")).or_else(|| {
        // Positional args: "0" may be the `{"subsystem":…}` binding, then "1" is the text.
        if subsystem_of(o.get("0")).is_some() {
            s(o.get("1"))
        } else {
            s(o.get("0"))
        }
    });
    [time, level, subsystem, message]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the follow loop tracks between pages.
struct Tail {
    cursor: Option<u64>,
    file: Option<String>,
}

impl Tail {
    /// Print one page; `false` when stdout is gone.
    fn print(&mut self, page: &Value, a: &LogsArgs) -> bool {
        let file = page.get("file").and_then(Value::as_str).unwrap_or("");
        if self.file.as_deref() != Some(file) {
            if !a.json && !out(&format!("Log file: {file}")) {
                return false;
            }
            self.file = Some(file.to_string());
        }
        if page.get("reset").and_then(Value::as_bool) == Some(true) {
            eprintln!("[logs] log file was rotated or truncated; starting over");
        }
        if let Some(lines) = page.get("lines").and_then(Value::as_array) {
            for l in lines.iter().filter_map(Value::as_str) {
                let text = if a.json {
                    l.to_string()
                } else {
                    format_line(l, a.utc)
                };
                if !out(&text) {
                    return false;
                }
            }
        }
        if let Some(c) = page.get("cursor").and_then(Value::as_u64) {
            self.cursor = Some(c);
        }
        true
    }

    fn params(&self, a: &LogsArgs) -> Value {
        let mut p = json!({ "limit": a.limit, "maxBytes": a.max_bytes });
        if let Some(c) = self.cursor {
            p["cursor"] = json!(c);
        }
        p
    }
}

/// Reconnect with backoff; `None` after the last attempt failed.
async fn reconnect(opts: &ConnectOptions, last: &ClientError) -> Option<GatewayClient> {
    eprintln!("[logs] gateway disconnected ({last}); reconnecting…");
    for ms in BACKOFF_MS {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        match GatewayClient::connect(opts).await {
            Ok(c) => {
                eprintln!("[logs] gateway reconnected");
                return Some(c);
            }
            Err(e) if e.is_transient() => continue,
            Err(e) => {
                eprintln!("[logs] reconnect failed: {e}");
                return None;
            }
        }
    }
    None
}

/// Run the command.
pub async fn run(global: &GlobalArgs, a: &LogsArgs) -> i32 {
    let ctx = match Ctx::load(global, None) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = ctx.target(&a.conn, true);
    let opts = ctx.options(&a.conn, &target.url, Flavour::Cli);
    let mut client = match GatewayClient::connect(&opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Gateway logs failed: {e}");
            return 1;
        }
    };
    let mut tail = Tail {
        cursor: None,
        file: None,
    };
    let interval = Duration::from_millis(a.interval.max(50));
    loop {
        match client.call("logs.tail", tail.params(a)).await {
            Ok(page) => {
                if !tail.print(&page, a) {
                    return 0; // stdout closed (e.g. piped into head)
                }
                if !a.follow {
                    client.close().await;
                    return 0;
                }
                tokio::time::sleep(interval).await;
            }
            Err(e) if a.follow && e.is_transient() => match reconnect(&opts, &e).await {
                Some(c) => {
                    std::mem::replace(&mut client, c).close().await;
                }
                None => {
                    eprintln!("[logs] gave up: gateway not reachable at {}", target.url);
                    return 1;
                }
            },
            Err(e) => {
                eprintln!("Gateway logs failed: {e}");
                return 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_node_and_rust_records() {
        let node = r#"{"0":"{\"subsystem\":\"gateway/ws\"}","1":"← open conn=1","_meta":{"date":"2026-11-22T18:57:28.472Z","logLevelName":"INFO","name":"{\"subsystem\":\"gateway/ws\"}"},"time":"2026-11-22T18:57:28.472+00:00","message":"← open conn=1"}"#;
        assert_eq!(
            format_line(node, false),
            "2026-11-22T18:57:28.472+00:00 info gateway/ws ← open conn=1"
        );
        assert_eq!(
            format_line(node, true),
            "2026-11-22T18:57:28.472Z info gateway/ws ← open conn=1"
        );
        let rust = r#"{"time":"2026-01-01T00:00:00.000+01:00","level":"warn","subsystem":"gateway","message":"hi","_meta":{"name":"{\"subsystem\":\"gateway\"}","logLevelName":"WARN"}}"#;
        assert_eq!(
            format_line(rust, false),
            "2026-01-01T00:00:00.000+01:00 warn gateway hi"
        );
        let bare = r#"{"time":"t","level":"info","message":"OpenClaw status"}"#;
        assert_eq!(format_line(bare, false), "t info OpenClaw status");
        assert_eq!(format_line("not json", false), "not json");
        assert_eq!(format_line("[1,2]", false), "[1,2]");
    }
}
