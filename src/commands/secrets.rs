//! `openclaw secrets reload [--json] [--url --token --password --timeout]`: the
//! `secrets.reload` RPC (operator.admin) as the backend client (`gateway:secrets`). Prints
//! `Secrets reloaded.` (or `Secrets reloaded with N warning(s).`) like the stock CLI; `--json`
//! prints the result. A failure prints `Gateway reload secrets failed: …` and exits 1.

use serde_json::{json, Value};

use super::{out, out_json, Ctx};
use crate::cli::{GlobalArgs, SecretsReloadArgs};
use crate::client::{Flavour, GatewayClient};

/// The RPC this command calls.
const METHOD: &str = "secrets.reload";

/// Run the command.
pub async fn reload(global: &GlobalArgs, a: &SecretsReloadArgs) -> i32 {
    let ctx = match Ctx::load(global, None) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = ctx.target(&a.conn, true);
    let mut opts = ctx.options(&a.conn, &target.url, Flavour::Backend("secrets".into()));
    opts.scopes = super::call::scopes_for(METHOD);
    let res = match GatewayClient::connect(&opts).await {
        Ok(mut c) => {
            let r = c.call(METHOD, json!({})).await;
            c.close().await;
            r
        }
        Err(e) => Err(e),
    };
    match res {
        Ok(v) => {
            if a.json {
                out_json(&v);
            } else {
                let n = v.get("warningCount").and_then(Value::as_u64).unwrap_or(0);
                if n > 0 {
                    out(&format!("Secrets reloaded with {n} warning(s)."));
                } else {
                    out("Secrets reloaded.");
                }
            }
            0
        }
        Err(e) => {
            if a.json {
                out_json(&json!({ "ok": false, "error": e.to_string() }));
            }
            eprintln!(
                "Gateway reload secrets failed: {e}\nInspect with: openclaw gateway status --deep"
            );
            1
        }
    }
}
