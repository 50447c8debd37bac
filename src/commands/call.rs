//! `openclaw gateway call <method> [--params JSON]`: one raw RPC as the backend client
//! (flavour B, `gateway:call`), requesting the least scope the method needs; prints the
//! payload as JSON. Errors print `<method> failed: <CODE>: <message>` and exit 1.

use serde_json::Value;

use super::{out_json, Ctx};
use crate::cli::{GatewayCallArgs, GlobalArgs};
use crate::client::{Flavour, GatewayClient};
use openclaw_proto::scope::KNOWN_SCOPES;
use openclaw_proto::{required_scope, RequiredScope};

/// Scopes to request for `method`: its schema scope, else every operator scope.
pub fn scopes_for(method: &str) -> Vec<String> {
    match required_scope(method) {
        RequiredScope::Scope(s) => vec![s.to_string()],
        _ => KNOWN_SCOPES.iter().map(|(n, _)| n.to_string()).collect(),
    }
}

/// Run the command.
pub async fn run(global: &GlobalArgs, a: &GatewayCallArgs) -> i32 {
    let params: Value = match serde_json::from_str(&a.params) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            eprintln!("--params must be a JSON object");
            return 2;
        }
        Err(e) => {
            eprintln!("--params is not valid JSON: {e}");
            return 2;
        }
    };
    let ctx = match Ctx::load(global, None) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = ctx.target(&a.conn, true);
    let mut opts = ctx.options(&a.conn, &target.url, Flavour::Backend("call".into()));
    opts.scopes = scopes_for(&a.method);
    let mut c = match GatewayClient::connect(&opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Gateway call failed: {e}");
            return 1;
        }
    };
    let res = if a.expect_final {
        c.call_final(&a.method, params).await
    } else {
        c.call(&a.method, params).await
    };
    c.close().await;
    match res {
        Ok(v) => {
            out_json(&v);
            0
        }
        Err(e) => {
            eprintln!("Gateway call failed: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_privilege_scopes() {
        assert_eq!(scopes_for("logs.tail"), vec!["operator.read"]);
        assert_eq!(scopes_for("config.set"), vec!["operator.admin"]);
        assert_eq!(scopes_for("no.such.method").len(), 8);
    }
}
