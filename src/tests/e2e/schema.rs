//! The schema check applied to EVERY frame a test client receives: the frame envelope, and
//! results and events against the 2026.9.6 schema export where it defines the shape, else the
//! 2026.9.1 file (with the relaxations observed on the Node gateway, each commented).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

struct Schemas {
    /// `protocol-2026.9.6.schema.json`: the shapes today's clients expect (preferred).
    v96: Value,
    /// `protocol.schema.json` (2026.9.1): shapes the 9.6 export lacks.
    v91: Value,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn load_schema(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/schema")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The 9.6 export serialises a few TypeBox enums as `{"type": "enum", "enum": {"name":
/// "value", …}}`; JSON Schema wants `{"enum": [values]}` (the meaning is the same).
fn repair_enums(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(e)) = m.get("enum") {
                let values: Vec<Value> = e.values().cloned().collect();
                m.insert("enum".into(), Value::Array(values));
                if m.get("type") == Some(&json!("enum")) {
                    m.remove("type");
                }
            }
            m.values_mut().for_each(repair_enums);
        }
        Value::Array(a) => a.iter_mut().for_each(repair_enums),
        _ => {}
    }
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let mut v96 = load_schema("protocol-2026.9.6.schema.json");
        repair_enums(&mut v96);
        let mut doc = load_schema("protocol.schema.json");
        // Shapes only the 9.1 file has, relaxed where the real 9.6 gateway sends more:
        // presence entries of connected clients carry `clientId` (observed.md).
        doc["definitions"]["PresenceEntry"] = v96["definitions"]["PresenceEntry"].clone();
        // `models.list` scoped to a session or agent carries `accountSelection` on the
        // Node gateway 2026.9.6 (observed); the 9.1 result shape predates it.
        doc["definitions"]["ModelsListResult"]["properties"]["accountSelection"] = json!({
            "type": "object", "required": ["kind", "label"],
            "properties": { "kind": { "type": "string" }, "label": { "type": "string" } }
        });
        // Snapshot.health is the health payload's only published shape.
        let mut health = doc["definitions"]["Snapshot"]["properties"]["health"].clone();
        // The `health` method's answer on the Node gateway 2026.9.6 also carries
        // `modelRuntime {degraded, pendingAgents}` (observed; the hello-ok snapshot does not).
        health["properties"]["modelRuntime"] = json!({
            "type": "object", "required": ["degraded", "pendingAgents"],
            "properties": { "degraded": { "type": "boolean" }, "pendingAgents": { "type": "array" } },
            "additionalProperties": false
        });
        doc["definitions"]["__Health"] = health;
        let entry = json!({ "$ref": "#/definitions/PresenceEntry" });
        doc["definitions"]["__PresenceEvent"] = json!({
            "type": "object", "required": ["presence"],
            "properties": { "presence": { "type": "array", "items": entry } },
            "additionalProperties": false
        });
        doc["definitions"]["__PresenceList"] = json!({ "type": "array", "items": entry });
        Schemas {
            v96,
            v91: doc,
            cache: Mutex::new(HashMap::new()),
        }
    })
}

/// Which document defines `def`: the 9.6 export when it has the name, else 9.1.
fn doc_for(def: &str) -> (&'static Value, &'static str) {
    let s = schemas();
    if def == "__Frame" || s.v96["definitions"].get(def).is_some() {
        (&s.v96, "2026.9.6")
    } else {
        (&s.v91, "2026.9.1")
    }
}

/// The definitions `start` needs, following `#/definitions/…` references (the export has
/// a few malformed shapes elsewhere that must not stop the ones we use from compiling).
fn reachable(defs: &Value, start: &str) -> Value {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    if let Some(n) = r.strip_prefix("#/definitions/") {
                        out.push(n.to_string());
                    }
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut keep = serde_json::Map::new();
    let mut todo = vec![start.to_string()];
    while let Some(n) = todo.pop() {
        if keep.contains_key(&n) {
            continue;
        }
        let d = defs
            .get(&n)
            .unwrap_or_else(|| panic!("schema has no definition {n}"));
        refs(d, &mut todo);
        keep.insert(n, d.clone());
    }
    Value::Object(keep)
}

fn validator(def: &str) -> Arc<jsonschema::Validator> {
    let s = schemas();
    let mut c = s.cache.lock().unwrap();
    if let Some(v) = c.get(def) {
        return v.clone();
    }
    let (doc, _) = doc_for(def);
    let start = if def == "__Frame" {
        "GatewayFrame"
    } else {
        def
    };
    let mut root = json!({ "definitions": reachable(&doc["definitions"], start) });
    root["$ref"] = if def == "__Frame" {
        json!("#/definitions/GatewayFrame")
    } else {
        json!(format!("#/definitions/{def}"))
    };
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&root)
            .expect("schema compiles"),
    );
    c.insert(def.to_string(), v.clone());
    v
}

/// Panic with the schema errors if `value` does not validate against `def`.
pub fn assert_valid(def: &str, value: &Value, what: &str) {
    let v = validator(def);
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    let (_, version) = doc_for(def);
    assert!(
        errors.is_empty(),
        "{what} does not validate against {def} ({version}): {errors:?}\nframe: {value}"
    );
}

/// The definition an event payload must satisfy, if a schema has one.
fn event_def(event: &str) -> Option<&'static str> {
    Some(match event {
        "tick" => "TickEvent",
        "shutdown" => "ShutdownEvent",
        "device.pair.resolved" => "DevicePairResolvedEvent",
        "health" => "__Health",
        "presence" => "__PresenceEvent",
        "agent" => "AgentEvent",
        "chat" => "ChatEvent",
        _ => return None,
    })
}

/// The definition a method's result must satisfy, if a schema has one. The 9.6 export
/// defines the first group; the rest only exist in 9.1. No published schema shapes the
/// results of `chat.history`, `chat.send`, `sessions.list/get/reset`, `status` or
/// `config.get`: those are checked field by field in their tests.
fn result_def(method: &str) -> Option<&'static str> {
    Some(match method {
        "connect" => "HelloOk",
        "logs.tail" => "LogsTailResult",
        "agents.list" => "AgentsListResult",
        "agent.identity.get" => "AgentIdentityResult",
        "sessions.delete" => "SessionsDeleteResult",
        "models.list" => "ModelsListResult",
        "health" => "__Health",
        "system-presence" => "__PresenceList",
        _ => return None,
    })
}

/// Frames checked so far in this process (the suite asserts it is not zero).
pub static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Validate one received frame: the frame envelope, and the payload where the schema
/// has a shape for it (`method` is the request it answers, when known).
pub fn check_frame(frame: &Value, method: Option<&str>) {
    assert_valid("__Frame", frame, "frame");
    match frame["type"].as_str() {
        Some("event") => {
            if let Some(def) = frame["event"].as_str().and_then(event_def) {
                assert_valid(def, &frame["payload"], "event payload");
            }
        }
        Some("res") if frame["ok"] == true => {
            if let Some(def) = method.and_then(result_def) {
                assert_valid(def, &frame["payload"], "result payload");
            }
        }
        Some("res") => assert_valid("ErrorShape", &frame["error"], "error"),
        _ => {}
    }
    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
