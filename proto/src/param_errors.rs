//! Why a request's params fail their 2026.9.6 schema definition, worded and ordered as the
//! Node gateway words them (its TypeBox validator and error formatter): what the walker finds,
//! at most [`MAX_ERRORS`] raw errors, deduplicated, joined with `; `. Which definition a method
//! uses, and when to ask (only after a handler refused its params), is the gateway's business.
//!
//! Keyword order per schema, as TypeBox evaluates them (all of them, not short-circuiting):
//! `type`; for objects `required`, `additionalProperties`, `patternProperties`, `properties`,
//! `minProperties`, `maxProperties`; for arrays `items`, `maxItems`, `minItems`, `uniqueItems`;
//! for strings `maxLength`, `minLength`, `pattern`; for numbers `exclusiveMaximum`,
//! `exclusiveMinimum`, `maximum`, `minimum`; then `const`, `enum`, `not`, `allOf`, `anyOf`.
//! String lengths count Unicode scalar values (TypeBox counts grapheme clusters; the two differ
//! only for combined characters).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The raw error budget of one validation (TypeBox's `maxErrors`): later errors are dropped,
/// and a subschema met at the limit is not walked (the branches of `not`, `allOf` and
/// `anyOf` are walked with budgets of their own, as in TypeBox).
pub const MAX_ERRORS: usize = 8;

static PARAMS_JSON: &str = include_str!("../schema/params-2026.9.6.json");

fn definitions() -> &'static Map<String, Value> {
    static DEFS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFS.get_or_init(|| serde_json::from_str(PARAMS_JSON).expect("embedded params schema"))
}

/// Whether the embedded extract has definition `def`.
#[cfg(test)]
fn has_definition(def: &str) -> bool {
    definitions().contains_key(def)
}

/// Whether definition `def` refuses properties it does not name (`additionalProperties:
/// false` at its root); `false` when it is not embedded.
pub fn refuses_unknown(def: &str) -> bool {
    definitions()
        .get(def)
        .is_some_and(|d| d.get("additionalProperties") == Some(&Value::Bool(false)))
}

/// The Node gateway's text for why `params` fail definition `def` (without the
/// `invalid <method> params: ` prefix); `None` when they pass or `def` is not embedded.
pub fn params_errors(def: &str, params: &Value) -> Option<String> {
    let schema = definitions().get(def)?;
    let mut ctx = Errors::default();
    if walk(&mut ctx, &At::Root, schema, params) {
        return None;
    }
    Some(format(&normalize(ctx.list)))
}

/// One raw error: keyword, where in the params, and what the message needs.
#[derive(Clone, Debug)]
struct Raw {
    keyword: &'static str,
    path: String,
    detail: Detail,
}

#[derive(Clone, Debug)]
enum Detail {
    None,
    /// The missing, or unexpected, property names (the formatter shows the first that is
    /// not blank).
    Names(Vec<String>),
    Text(String),
}

#[derive(Default)]
struct Errors {
    list: Vec<Raw>,
}

impl Errors {
    fn full(&self) -> bool {
        self.list.len() >= MAX_ERRORS
    }

    /// Records an error (dropped at capacity) and answers `false` (the schema failed).
    fn add(&mut self, keyword: &'static str, path: &At<'_>, detail: Detail) -> bool {
        if !self.full() {
            self.list.push(Raw {
                keyword,
                path: path.to_string(),
                detail,
            });
        }
        false
    }

    /// Records an error found by a branch walk (dropped at capacity).
    fn push(&mut self, e: Raw) {
        if !self.full() {
            self.list.push(e);
        }
    }
}

fn text(s: String) -> Detail {
    Detail::Text(s)
}

/// Where in the params a value is: a chain of keys and indices on the walker's stack, written
/// out (`/a/0/b`, unescaped, as TypeBox writes it) only when an error is recorded.
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Key(up, k) => write!(f, "{up}/{k}"),
            At::Index(up, i) => write!(f, "{up}/{i}"),
        }
    }
}

/// Walks `schema` over `v` at `path`; `true` when `v` passes.
fn walk(ctx: &mut Errors, path: &At<'_>, schema: &Value, v: &Value) -> bool {
    if ctx.full() {
        return false;
    }
    let s = match schema {
        Value::Bool(true) => return true,
        Value::Bool(false) => return ctx.add("boolean", path, Detail::None),
        Value::Object(s) => s,
        _ => return true,
    };
    let mut ok = true;
    if let Some(t) = s.get("type") {
        ok &= type_ok(t, v) || ctx.add("type", path, text(type_message(t)));
    }
    match v {
        Value::Object(o) => ok &= object(ctx, path, s, o),
        Value::Array(a) => ok &= array(ctx, path, s, a),
        Value::String(st) => ok &= string(ctx, path, s, st),
        Value::Number(_) => ok &= number(ctx, path, s, v.as_f64().unwrap_or(f64::NAN)),
        _ => {}
    }
    ok & applicators(ctx, path, s, v)
}

fn type_is(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "boolean" => v.is_boolean(),
        "integer" => v
            .as_f64()
            .is_some_and(|n| n.is_finite() && n.fract() == 0.0),
        "number" => v.is_number(),
        "null" => v.is_null(),
        "string" => v.is_string(),
        _ => true,
    }
}

fn type_ok(t: &Value, v: &Value) -> bool {
    match t {
        Value::String(t) => type_is(t, v),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_is(t, v)),
        _ => true,
    }
}

fn type_message(t: &Value) -> String {
    match t {
        Value::Array(ts) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            format!("must be either {}", names.join(" or "))
        }
        t => format!("must be {}", t.as_str().unwrap_or("valid")),
    }
}

fn object(ctx: &mut Errors, path: &At<'_>, s: &Map<String, Value>, o: &Map<String, Value>) -> bool {
    let mut ok = true;
    if let Some(Value::Array(req)) = s.get("required") {
        let missing: Vec<String> = req
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| !o.contains_key(*k))
            .map(str::to_string)
            .collect();
        if !missing.is_empty() {
            ok &= ctx.add("required", path, Detail::Names(missing));
        }
    }
    if let Some(extra) = s.get("additionalProperties") {
        ok &= additional(ctx, path, s, extra, o);
    }
    if let Some(Value::Object(pp)) = s.get("patternProperties") {
        for (pat, sub) in pp {
            for (k, x) in o.iter().filter(|(k, _)| matches(pat, k)) {
                ok &= walk(ctx, &At::Key(path, k), sub, x);
            }
        }
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        for (k, sub) in props {
            if let Some(x) = o.get(k) {
                ok &= walk(ctx, &At::Key(path, k), sub, x);
            }
        }
    }
    let n = o.len() as f64;
    if let Some(min) = s.get("minProperties").and_then(Value::as_f64) {
        ok &= n >= min || ctx.add("minProperties", path, limit(min));
    }
    if let Some(max) = s.get("maxProperties").and_then(Value::as_f64) {
        ok &= n <= max || ctx.add("maxProperties", path, limit(max));
    }
    ok
}

/// `additionalProperties`: each key neither in `properties` nor matching a
/// `patternProperties` pattern is walked against `extra` (a `false` schema records a
/// `boolean` error per key, which [`normalize`] folds away), then one aggregate error.
fn additional(
    ctx: &mut Errors,
    path: &At<'_>,
    s: &Map<String, Value>,
    extra: &Value,
    o: &Map<String, Value>,
) -> bool {
    let props = s.get("properties").and_then(Value::as_object);
    let pats = s.get("patternProperties").and_then(Value::as_object);
    let mut unexpected = Vec::new();
    for (k, x) in o {
        let known = props.is_some_and(|p| p.contains_key(k))
            || pats.is_some_and(|p| p.keys().any(|pat| matches(pat, k)));
        if !known && !walk(ctx, &At::Key(path, k), extra, x) {
            unexpected.push(k.clone());
        }
    }
    unexpected.is_empty() || ctx.add("additionalProperties", path, Detail::Names(unexpected))
}

fn array(ctx: &mut Errors, path: &At<'_>, s: &Map<String, Value>, a: &[Value]) -> bool {
    let mut ok = true;
    match s.get("items") {
        Some(Value::Array(subs)) => {
            for (i, (sub, x)) in subs.iter().zip(a).enumerate() {
                ok &= walk(ctx, &At::Index(path, i), sub, x);
            }
        }
        Some(sub) => {
            for (i, x) in a.iter().enumerate() {
                ok &= walk(ctx, &At::Index(path, i), sub, x);
            }
        }
        None => {}
    }
    let n = a.len() as f64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_f64) {
        ok &= n <= max || ctx.add("maxItems", path, limit(max));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_f64) {
        ok &= n >= min || ctx.add("minItems", path, limit(min));
    }
    if s.get("uniqueItems") == Some(&Value::Bool(true)) {
        // One pass with a set (the array is as long as the client made it).
        let mut seen = std::collections::HashSet::with_capacity(a.len());
        let dup = !a.iter().all(|x| seen.insert(x.to_string()));
        ok &= !dup || ctx.add("uniqueItems", path, Detail::None);
    }
    ok
}

fn string(ctx: &mut Errors, path: &At<'_>, s: &Map<String, Value>, st: &str) -> bool {
    let mut ok = true;
    let n = st.chars().count() as f64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_f64) {
        ok &= n <= max || ctx.add("maxLength", path, limit(max));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_f64) {
        ok &= n >= min || ctx.add("minLength", path, limit(min));
    }
    if let Some(pat) = s.get("pattern").and_then(Value::as_str) {
        ok &= matches(pat, st) || ctx.add("pattern", path, text(pat.to_string()));
    }
    ok
}

fn number(ctx: &mut Errors, path: &At<'_>, s: &Map<String, Value>, n: f64) -> bool {
    let mut ok = true;
    let mut bound = |key: &'static str, cmp: &str, pass: fn(f64, f64) -> bool| {
        if let Some(lim) = s.get(key) {
            let l = lim.as_f64().unwrap_or(f64::NAN);
            ok &= pass(n, l) || ctx.add(key, path, text(format!("must be {cmp} {lim}")));
        }
    };
    bound("exclusiveMaximum", "<", |n, l| n < l);
    bound("exclusiveMinimum", ">", |n, l| n > l);
    bound("maximum", "<=", |n, l| n <= l);
    bound("minimum", ">=", |n, l| n >= l);
    ok
}

/// `const`, `enum`, `not`, `allOf`, `anyOf`: the keywords that apply whatever the type.
fn applicators(ctx: &mut Errors, path: &At<'_>, s: &Map<String, Value>, v: &Value) -> bool {
    let mut ok = true;
    if let Some(c) = s.get("const") {
        ok &= c == v || ctx.add("const", path, Detail::None);
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        ok &= e.contains(v) || ctx.add("enum", path, Detail::None);
    }
    if let Some(n) = s.get("not") {
        ok &= !walk(&mut Errors::default(), path, n, v) || ctx.add("not", path, Detail::None);
    }
    if let Some(Value::Array(subs)) = s.get("allOf") {
        let failed = branches(path, subs, v);
        let all = failed.is_empty();
        failed.into_iter().flatten().for_each(|e| ctx.push(e));
        ok &= all;
    }
    if let Some(Value::Array(subs)) = s.get("anyOf") {
        let failed = branches(path, subs, v);
        if failed.len() == subs.len() {
            failed.into_iter().flatten().for_each(|e| ctx.push(e));
            ok &= ctx.add("anyOf", path, Detail::None);
        }
    }
    ok
}

/// The errors of each failing branch, each walked with its own budget.
fn branches(path: &At<'_>, subs: &[Value], v: &Value) -> Vec<Vec<Raw>> {
    subs.iter()
        .filter_map(|sub| {
            let mut c = Errors::default();
            (!walk(&mut c, path, sub, v)).then_some(c.list)
        })
        .collect()
}

fn limit(n: f64) -> Detail {
    Detail::Text(Value::from(n as u64).to_string())
}

/// Whether `pat` (an ECMAScript pattern of the embedded schema, unanchored) matches `s`.
/// `\d` means `[0-9]`, as in ECMAScript. A pattern that does not compile, or fails at run
/// time, counts as matching (no error is reported for it).
fn matches(pat: &str, s: &str) -> bool {
    match patterns().get(pat) {
        Some(Some(re)) => re.is_match(s).unwrap_or(true),
        Some(None) => true,
        // Not in the table: not one of the embedded schema's patterns (cannot happen: only
        // the schema names patterns); compiled on the spot, not kept.
        None => compile(pat).is_none_or(|re| re.is_match(s).unwrap_or(true)),
    }
}

fn compile(pat: &str) -> Option<fancy_regex::Regex> {
    fancy_regex::Regex::new(&pat.replace(r"\d", "[0-9]")).ok()
}

/// Every `pattern` and `patternProperties` key of the embedded schema, compiled once.
fn patterns() -> &'static HashMap<String, Option<fancy_regex::Regex>> {
    static TABLE: OnceLock<HashMap<String, Option<fancy_regex::Regex>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        fn collect(v: &Value, out: &mut HashMap<String, Option<fancy_regex::Regex>>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(p)) = o.get("pattern") {
                        out.entry(p.clone()).or_insert_with(|| compile(p));
                    }
                    if let Some(Value::Object(pp)) = o.get("patternProperties") {
                        for p in pp.keys() {
                            out.entry(p.clone()).or_insert_with(|| compile(p));
                        }
                    }
                    o.values().for_each(|x| collect(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
                _ => {}
            }
        }
        let mut out = HashMap::new();
        definitions().values().for_each(|d| collect(d, &mut out));
        out
    })
}

/// Folds the `boolean` errors of refused extra keys into the `additionalProperties` error
/// that follows them (the Node gateway's normalisation).
fn normalize(list: Vec<Raw>) -> Vec<Raw> {
    let mut out: Vec<Raw> = Vec::with_capacity(list.len());
    let mut booleans = 0usize;
    for e in list {
        if e.keyword == "boolean" {
            out.push(e);
            booleans += 1;
            continue;
        }
        if let (true, Detail::Names(keys)) = (e.keyword == "additionalProperties", &e.detail) {
            let n = keys.len();
            if n > 0 && n <= booleans {
                let tail = &out[out.len() - n..];
                let folded = tail
                    .iter()
                    .zip(keys)
                    .all(|(c, k)| c.path == format!("{}/{k}", e.path));
                if folded {
                    out.truncate(out.len() - n);
                }
            }
        }
        out.push(e);
        booleans = 0;
    }
    out
}

/// One line: `at <path>: <message>` per error (`at root` for unexpected properties at the
/// top), duplicates dropped, joined with `; `.
fn format(list: &[Raw]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in list {
        let at = |p: &str| {
            if p.is_empty() {
                String::new()
            } else {
                format!("at {p}: ")
            }
        };
        let first = |d: &Detail| match d {
            Detail::Names(n) => n.iter().find(|k| !k.trim().is_empty()).cloned(),
            _ => None,
        };
        let part = match (e.keyword, first(&e.detail)) {
            ("additionalProperties", Some(k)) if e.path.is_empty() => {
                format!("at root: unexpected property '{k}'")
            }
            ("additionalProperties", Some(k)) => {
                format!("at {}: unexpected property '{k}'", e.path)
            }
            ("required", Some(k)) => format!("{}must have required property '{k}'", at(&e.path)),
            _ => format!("{}{}", at(&e.path), message(e)),
        };
        if !part.trim().is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return "unknown validation error".into();
    }
    parts.join("; ")
}

/// TypeBox's English message for one error.
fn message(e: &Raw) -> String {
    let d = match &e.detail {
        Detail::Text(t) => t.as_str(),
        Detail::Names(n) if e.keyword == "required" => {
            return format!("must have required properties {}", n.join(", "))
        }
        _ => "",
    };
    match e.keyword {
        "additionalProperties" => "must not have additional properties".into(),
        "anyOf" => "must match a schema in anyOf".into(),
        "boolean" => "schema is false".into(),
        "const" => "must be equal to constant".into(),
        "enum" => "must be equal to one of the allowed values".into(),
        "maxItems" => format!("must not have more than {d} items"),
        "maxLength" => format!("must not have more than {d} characters"),
        "maxProperties" => format!("must not have more than {d} properties"),
        "minItems" => format!("must not have fewer than {d} items"),
        "minLength" => format!("must not have fewer than {d} characters"),
        "minProperties" => format!("must not have fewer than {d} properties"),
        "not" => "must not be valid".into(),
        "pattern" => format!("must match pattern \"{d}\""),
        "uniqueItems" => "must not have duplicate items".into(),
        _ => d.to_string(),
    }
}

#[cfg(test)]
#[path = "param_errors_tests.rs"]
mod tests;
