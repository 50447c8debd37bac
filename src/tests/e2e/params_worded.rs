//! Refused params read as the Node gateway 2026.9.6 words them, on every run path (answered
//! on the read loop, beside it, in the ordered lane, and by the two handlers that answer
//! through the responder themselves). Each expected text was observed on the Node gateway
//! with the stock CLI (`gateway call M --params P`), 2026-12-07.

use serde_json::json;

use crate::util::*;

const CASES: &[(&str, &str, &str)] = &[
    (
        "chat.history",
        r#"{"sessionKey":"","limit":0,"offset":-1,"maxBytes":1,"maxChars":0,"pendingBefore":0}"#,
        "at /sessionKey: must not have fewer than 1 characters; at /limit: must be >= 1; \
         at /maxBytes: must be >= 1024; at /offset: must be >= 0; at /pendingBefore: must be >= 1; \
         at /maxChars: must be >= 1",
    ),
    (
        "chat.history",
        r#"{"bogus":1,"limit":0}"#,
        "must have required property 'sessionKey'; at root: unexpected property 'bogus'; \
         at /limit: must be >= 1",
    ),
    (
        "chat.history",
        r#"{"sessionKey":"s","inputRunIds":["a","a"]}"#,
        "at /inputRunIds: must not have duplicate items",
    ),
    ("chat.history", r#"{"sessionKey":"s","":1}"#, "must not have additional properties"),
    ("users.prefs.get", r#"{"keys":["a","b","a"]}"#, "at /keys: must not have duplicate items"),
    ("chat.send", r#"{"sessionKey":"s1","message":"x","idempotencyKey":"k","timeoutMs":-1}"#, "at /timeoutMs: must be >= 0"),
    (
        "agent",
        r#"{"message":"","idempotencyKey":""}"#,
        "at /message: must not have fewer than 1 characters; \
         at /idempotencyKey: must not have fewer than 1 characters",
    ),
    ("agent.wait", r#"{"runId":""}"#, "at /runId: must not have fewer than 1 characters"),
    ("sessions.list", r#"{"limit":0}"#, "at /limit: must be >= 1"),
    (
        "sessions.list",
        r#"{"sortBy":5,"a":1}"#,
        "at root: unexpected property 'a'; at /sortBy: must be string; at /sortBy: must be equal to constant",
    ),
    ("sessions.usage", r#"{"limit":0}"#, "at /limit: must be >= 1"),
    (
        "sessions.usage",
        r#"{"startDate":"2026-1-1"}"#,
        r#"at /startDate: must match pattern "^\d{4}-\d{2}-\d{2}$""#,
    ),
    (
        "wake",
        r#"{"mode":"x"}"#,
        "must have required property 'text'; at /mode: must be equal to constant; \
         at /mode: must match a schema in anyOf",
    ),
    ("node.describe", r#"{"nodeId":""}"#, "at /nodeId: must not have fewer than 1 characters"),
    ("skills.search", r#"{"query":""}"#, "at /query: must not have fewer than 1 characters"),
    (
        "plugins.catalog.browse",
        r#"{"category":""}"#,
        "at /category: must not have fewer than 1 characters; \
         at /category: must match pattern \"^[a-z][a-z0-9-]*$\"",
    ),
];

#[tokio::test]
async fn refused_params_list_every_problem_in_node_words() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    for (method, params, why) in CASES {
        let p: serde_json::Value = serde_json::from_str(params).unwrap();
        let r = c.call(method, p).await;
        assert_eq!(
            r["error"]["code"], "INVALID_REQUEST",
            "{method} {params}: {r}"
        );
        assert_eq!(
            r["error"]["message"],
            format!("invalid {method} params: {why}"),
            "{method} {params}"
        );
    }
    // Accepted params still get their answer.
    let ok = c
        .call("chat.history", json!({ "sessionKey": "s", "limit": 5 }))
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
    g.stop().await;
}
