//! The walker against messages observed on the Node gateway 2026.9.6 (stock CLI
//! `gateway call`, 2026-12-07), one case per rule: order, capacity, dedupe, folding.

use serde_json::json;

use super::{has_definition, params_errors};

fn check(def: &str, params: serde_json::Value, node: &str) {
    assert_eq!(
        params_errors(def, &params).as_deref(),
        Some(node),
        "{def} {params}"
    );
}

#[test]
fn valid_params_pass() {
    assert!(has_definition("ChatHistoryParams"));
    assert_eq!(
        params_errors("ChatHistoryParams", &json!({"sessionKey": "s", "limit": 5})),
        None
    );
    assert_eq!(params_errors("NoSuchParams", &json!({})), None);
}

#[test]
fn bounds_types_and_lengths() {
    let h = "ChatHistoryParams";
    check(
        h,
        json!({"sessionKey": "s1", "limit": 0}),
        "at /limit: must be >= 1",
    );
    check(
        h,
        json!({"sessionKey": "s1", "limit": 1001}),
        "at /limit: must be <= 1000",
    );
    check(
        h,
        json!({"sessionKey": "s1", "limit": "x"}),
        "at /limit: must be integer",
    );
    check(
        h,
        json!({"sessionKey": "s1", "limit": 1.5}),
        "at /limit: must be integer",
    );
    check(
        h,
        json!({"sessionKey": "s1", "limit": null}),
        "at /limit: must be integer",
    );
    check(
        h,
        json!({"sessionKey": "s", "limit": 5_000_000_000_000u64}),
        "at /limit: must be <= 1000",
    );
    check(
        h,
        json!({"sessionKey": "s1", "maxBytes": 10}),
        "at /maxBytes: must be >= 1024",
    );
    check(
        h,
        json!({"sessionKey": 5}),
        "at /sessionKey: must be string",
    );
    check(
        h,
        json!({"sessionKey": ""}),
        "at /sessionKey: must not have fewer than 1 characters",
    );
    check(h, json!([]), "must be object");
    check(h, json!("x"), "must be object");
}

#[test]
fn every_error_in_schema_order() {
    check(
        "ChatHistoryParams",
        json!({"sessionKey": "", "limit": 0, "offset": -1, "maxBytes": 1, "maxChars": 0, "pendingBefore": 0}),
        "at /sessionKey: must not have fewer than 1 characters; at /limit: must be >= 1; \
         at /maxBytes: must be >= 1024; at /offset: must be >= 0; at /pendingBefore: must be >= 1; \
         at /maxChars: must be >= 1",
    );
    check(
        "ChatHistoryParams",
        json!({"bogus": 1, "limit": 0}),
        "must have required property 'sessionKey'; at root: unexpected property 'bogus'; \
         at /limit: must be >= 1",
    );
    check(
        "ChatHistoryParams",
        json!({"x": 1, "y": 2}),
        "must have required property 'sessionKey'; at root: unexpected property 'x'",
    );
}

#[test]
fn arrays() {
    let h = "ChatHistoryParams";
    check(
        h,
        json!({"sessionKey": "s", "inputRunIds": []}),
        "at /inputRunIds: must not have fewer than 1 items",
    );
    check(
        h,
        json!({"sessionKey": "s", "inputRunIds": ["a", "a"]}),
        "at /inputRunIds: must not have duplicate items",
    );
    check(
        h,
        json!({"sessionKey": "s", "inputRunIds": [""]}),
        "at /inputRunIds/0: must not have fewer than 1 characters",
    );
}

#[test]
fn any_of_and_the_error_budget() {
    let l = "SessionsListParams";
    check(
        l,
        json!({"sortBy": "x"}),
        "at /sortBy: must be equal to constant; at /sortBy: must match a schema in anyOf",
    );
    check(
        l,
        json!({"sortBy": 5}),
        "at /sortBy: must be string; at /sortBy: must be equal to constant; \
         at /sortBy: must match a schema in anyOf",
    );
    // 2 raw errors for `a` (its `false` schema and the aggregate) + 6 from the branches:
    // the budget of 8 is spent before the anyOf summary.
    check(
        l,
        json!({"sortBy": 5, "a": 1}),
        "at root: unexpected property 'a'; at /sortBy: must be string; at /sortBy: must be equal to constant",
    );
    check(
        l,
        json!({"sortBy": 5, "activeOnly": "y", "a": 1, "b": 2}),
        "at root: unexpected property 'a'; at /activeOnly: must be boolean; at /sortBy: must be string; \
         at /sortBy: must be equal to constant",
    );
    check(
        l,
        json!({"sortBy": 5, "activeOnly": "y"}),
        "at /activeOnly: must be boolean; at /sortBy: must be string; at /sortBy: must be equal to constant; \
         at /sortBy: must match a schema in anyOf",
    );
    check(
        l,
        json!({"boardFace": "x", "limit": 0}),
        "at /limit: must be >= 1; at /boardFace: must be equal to constant; \
         at /boardFace: must match a schema in anyOf",
    );
}

#[test]
fn nested_objects() {
    check(
        "SessionsListParams",
        json!({"profileRelation": {"profileId": "", "x": 1}}),
        "at /profileRelation: must have required property 'relationship'; \
         at /profileRelation: unexpected property 'x'; \
         at /profileRelation/profileId: must not have fewer than 1 characters",
    );
}

#[test]
fn several_properties_and_patterns() {
    check(
        "AgentParams",
        json!({"message": "", "idempotencyKey": ""}),
        "at /message: must not have fewer than 1 characters; \
         at /idempotencyKey: must not have fewer than 1 characters",
    );
    check(
        "AgentParams",
        json!({"message": "x", "idempotencyKey": "y", "timeout": -1}),
        "at /timeout: must be >= 0",
    );
    check(
        "PluginsCatalogBrowseParams",
        json!({"category": ""}),
        "at /category: must not have fewer than 1 characters; \
         at /category: must match pattern \"^[a-z][a-z0-9-]*$\"",
    );
    check(
        "PluginsCatalogBrowseParams",
        json!({"query": "a".repeat(201)}),
        "at /query: must not have more than 200 characters",
    );
    check(
        "SkillsSearchParams",
        json!({"query": ""}),
        "at /query: must not have fewer than 1 characters",
    );
}

#[test]
fn blank_names_ascii_digits_and_long_arrays() {
    // Observed on the Node gateway 2026.9.6, 2026-12-08.
    check(
        "ChatHistoryParams",
        json!({"sessionKey": "s", "": 1}),
        "must not have additional properties",
    );
    check(
        "SessionsUsageParams",
        json!({"startDate": "٢٠٢٦-01-01"}),
        r#"at /startDate: must match pattern "^\d{4}-\d{2}-\d{2}$""#,
    );
    check(
        "UsersPrefsGetParams",
        json!({"keys": ["a", "b", "a"]}),
        "at /keys: must not have duplicate items",
    );
    // A long array is checked for duplicates in one pass (and still refused for its length).
    let keys: Vec<String> = (0..200_000).map(|i| format!("k{i}")).collect();
    check(
        "UsersPrefsGetParams",
        json!({ "keys": keys }),
        "at /keys: must not have more than 32 items",
    );
}
