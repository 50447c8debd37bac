//! `POST /v1/embeddings`: forwarded to the agent's provider (its OpenAI-compatible
//! `/embeddings`); `x-openclaw-model` (operator.admin) picks the embedding model. The answer
//! is the provider's, with `model` as the caller named it; a provider failure becomes an
//! OpenAI error (its 4xx a 400, other errors a 502, no answer within the idle timeout a 504). Routing and auth are
//! `super`'s; the model catalog is [`crate::config::catalog`]'s.

use hyper::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::auth::{missing_scope, openai_error, Caller};
use super::openai::{agent_for_model, bad, header, json_ok, Resp};
use crate::config::catalog::{Catalog, Target};
use crate::server::Gateway;

/// `POST /v1/embeddings`.
pub async fn create(gw: &Gateway, caller: &Caller, h: &HeaderMap, body: Value) -> Resp {
    let cat = gw.agents.catalog();
    let target = match target(&cat, gw, caller, h, &body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let payload = json!({
        "model": target.model, "input": body["input"],
        "encoding_format": body.get("encoding_format").cloned().unwrap_or(json!("float")),
    });
    let (status, v) = match call(gw, &target, payload, cat.idle_timeout).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if status >= 400 {
        return upstream_error(status, &v);
    }
    let mut out = v;
    out["model"] = body["model"].clone();
    json_ok(&out)
}

/// The provider and model to ask: the agent's first model, or `x-openclaw-model`.
fn target(
    cat: &Catalog,
    gw: &Gateway,
    caller: &Caller,
    h: &HeaderMap,
    body: &Value,
) -> Result<Target, Resp> {
    let Some(agent) = body["model"].as_str().and_then(|m| agent_for_model(gw, m)) else {
        return Err(bad(
            "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.",
        ));
    };
    let input = &body["input"];
    let strings = input
        .as_array()
        .is_some_and(|a| a.iter().all(Value::is_string));
    if !(input.is_string() || strings) {
        return Err(bad("`input` must be a string or an array of strings."));
    }
    let model_ref = match header(h, "x-openclaw-model") {
        Some(_) if !caller.has("operator.admin") => return Err(missing_scope("operator.admin")),
        Some(m) => m.to_string(),
        None => match cat.agent(&agent).and_then(|a| a.models.first().cloned()) {
            Some(m) => m,
            None => return Err(bad("The agent has no model configured.")),
        },
    };
    cat.target(&model_ref).map_err(|e| bad(&e))
}

/// POST `payload` to the provider's `/embeddings` (bounded by `idle`, the catalog's idle
/// timeout): its status and JSON body.
async fn call(
    gw: &Gateway,
    target: &Target,
    payload: Value,
    idle: std::time::Duration,
) -> Result<(u16, Value), Resp> {
    let url = format!(
        "{}/embeddings",
        target.provider.base_url.trim_end_matches('/')
    );
    let mut req = gw
        .agents
        .client
        .post(&url)
        .header(hyper::header::CONTENT_TYPE.as_str(), "application/json")
        .body(payload.to_string());
    if let Some(k) = &target.provider.api_key {
        req = req.bearer_auth(k);
    }
    for (k, v) in &target.provider.headers {
        req = req.header(k, v);
    }
    let resp = match tokio::time::timeout(idle, req.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let what = match e.is_connect() {
                true => "connection refused",
                false => "request failed",
            };
            let msg = format!("embeddings upstream {what}");
            return Err(openai_error(StatusCode::BAD_GATEWAY, "api_error", &msg));
        }
        Err(_) => {
            let msg = "embeddings upstream timed out";
            return Err(openai_error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout_error",
                msg,
            ));
        }
    };
    let status = resp.status().as_u16();
    let body = resp.bytes().await.ok();
    match body.and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(v) => Ok((status, v)),
        None => Err(openai_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            "embeddings upstream sent invalid JSON",
        )),
    }
}

/// A provider's error status as an OpenAI error: `400 invalid_request_error` for its 4xx,
/// `502 api_error` for the rest, with its status and message.
fn upstream_error(status: u16, v: &Value) -> Resp {
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or("embeddings request failed");
    let (code, kind) = match status < 500 {
        true => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        false => (StatusCode::BAD_GATEWAY, "api_error"),
    };
    openai_error(code, kind, &format!("{status} {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_client_error_stays_a_client_error_and_the_rest_is_a_bad_gateway() {
        let v = json!({ "error": { "message": "no such model" } });
        assert_eq!(upstream_error(404, &v).status(), StatusCode::BAD_REQUEST);
        assert_eq!(upstream_error(429, &v).status(), StatusCode::BAD_REQUEST);
        assert_eq!(upstream_error(500, &v).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            upstream_error(503, &json!({})).status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
