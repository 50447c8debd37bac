//! The owner's profile on the wire: `users.self`, `users.prefs.get/set` and the theme
//! methods (`themes.list/get/set`, stored as the `ui.theme` / `ui.themeMode` preferences).
//! A caller speaks for the owner when it connected with a paired device (the Control UI
//! does); a shared-secret-only caller has no durable identity, as on the Node gateway.
//! Storage is [`crate::profile`]'s; the UI draws the themes, this only names them.

use openclaw_proto::{ErrorCode, ErrorShape, RequestFrame};
use serde_json::{json, Map, Value};

use super::ui::strict;
use super::Ctx;
use crate::clock::now_ms;
use crate::profile::{PrefError, MAX_PREF_ENTRIES, OWNER_PROFILE_ID};

/// The Control UI's built-in themes (id, name, what it looks like); each has light and dark.
const THEMES: &[(&str, &str, &str)] = &[
    ("claw", "Claw", "Coral and teal; the default look."),
    ("knot", "Knot", "Crimson on black or white, high contrast."),
    ("dash", "Dash", "Caramel and cream with a serif for chat."),
    (
        "absolutely",
        "Absolutely",
        "Terracotta on graphite or cream.",
    ),
    ("tide", "Tide", "Steel cyan on slate; calm and technical."),
    (
        "beacon",
        "Beacon",
        "Amber, bold focus rings, made for legibility.",
    ),
    (
        "phosphor",
        "Phosphor",
        "Green-screen terminal colours in a monospace face.",
    ),
    (
        "crt",
        "CRT",
        "Amber and white phosphor with square corners.",
    ),
    (
        "manuscript",
        "Manuscript",
        "Lapis and gold on paper, serif throughout.",
    ),
    ("rose", "Rosé", "Dried rose and gold, soft and muted."),
    ("miami", "Miami", "Neon pink and cyan."),
];
const DEFAULT_THEME: &str = "claw";
const THEME_KEY: &str = "ui.theme";
const MODE_KEY: &str = "ui.themeMode";
const APPEARANCE: &[&str] = &["accent", "fontUi", "fontChat"];

fn owner(c: &Ctx, method: &str) -> Result<(), ErrorShape> {
    if c.who.device_id.is_some() {
        return Ok(());
    }
    Err(ErrorShape::new(
        ErrorCode::Forbidden,
        format!("{method} requires an authenticated user"),
    ))
}

fn invalid(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, msg)
}

/// `users.self {}`.
pub fn user_self(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    owner(c, "users.self")?;
    let (created, updated) = c.gw.profile.times();
    Ok(json!({ "profile": {
        "id": OWNER_PROFILE_ID, "displayName": null, "avatarMime": null, "mergedInto": null,
        "createdAt": created, "updatedAt": updated, "emails": [], "githubIdentity": null,
        "hasAvatar": false,
    } }))
}

/// `users.prefs.get {keys?}`.
pub fn prefs_get(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["keys"], &[])?;
    // At most 32 keys of 1 to 256 characters, no key twice (the definition says it all).
    super::schema_checked(req)?;
    let keys = match p.get("keys") {
        None => None,
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err(ErrorShape::invalid_params(
                "users.prefs.get",
                "at /keys: must be array",
            ))
        }
    };
    if c.who.device_id.is_none() {
        return Ok(json!({ "status": "no_durable_identity" }));
    }
    Ok(json!({ "status": "ok", "entries": c.gw.profile.prefs(keys.as_deref()) }))
}

/// Write preferences and tell the owner's other sockets which keys changed.
async fn write_prefs(
    c: &Ctx,
    entries: &Map<String, Value>,
    expected: Option<&Map<String, Value>>,
) -> Result<bool, ErrorShape> {
    match c.gw.profile.set(entries, expected, now_ms()).await {
        Ok(true) => {
            if !entries.is_empty() {
                let keys: Vec<&String> = entries.keys().collect();
                let ev = json!({ "profileId": OWNER_PROFILE_ID, "keys": keys });
                c.gw.hub.publish("users.prefs.changed", &ev, None);
            }
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(PrefError::Entry(k, why)) => Err(invalid(format!(
            "invalid users.prefs.set entry for {k}: {why}"
        ))),
        Err(PrefError::Store(e)) => Err(crate::failure::store(
            "profile",
            crate::store::StoreError::Io(e),
        )),
    }
}

fn object<'a>(p: &'a Value, key: &str) -> Result<Option<&'a Map<String, Value>>, ErrorShape> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::Object(o)) if o.len() > MAX_PREF_ENTRIES => Err(ErrorShape::invalid_params(
            "users.prefs.set",
            &format!("at /{key}: must not have more than {MAX_PREF_ENTRIES} properties"),
        )),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(ErrorShape::invalid_params(
            "users.prefs.set",
            &format!("at /{key}: must be object"),
        )),
    }
}

/// `users.prefs.set {entries, expectedEntries?}`: `conflict` when an expected entry moved.
pub async fn prefs_set(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["entries", "expectedEntries"], &["entries"])?;
    let entries = object(&p, "entries")?.cloned().unwrap_or_default();
    let expected = object(&p, "expectedEntries")?;
    if c.who.device_id.is_none() {
        return Ok(json!({ "status": "no_durable_identity" }));
    }
    let ok = write_prefs(c, &entries, expected).await?;
    Ok(json!({ "status": if ok { "ok" } else { "conflict" } }))
}

fn theme_row(id: &str) -> Option<Value> {
    THEMES.iter().find(|t| t.0 == id).map(|(id, name, about)| {
        json!({ "id": id, "name": name, "description": about, "source": "builtin",
                "modes": ["light", "dark"] })
    })
}

/// `current` and the current theme's row, from the owner's preferences (or the defaults
/// for a caller without a profile).
fn current(c: &Ctx) -> (Value, Value) {
    let prefs = if c.who.device_id.is_some() {
        c.gw.profile
            .prefs(Some(&[THEME_KEY.into(), MODE_KEY.into()]))
    } else {
        Map::new()
    };
    let id = prefs
        .get(THEME_KEY)
        .and_then(Value::as_str)
        .filter(|id| theme_row(id).is_some());
    let mode = prefs.get(MODE_KEY).and_then(Value::as_str);
    let mut overrides = Map::new();
    if let Some(id) = id {
        overrides.insert("id".into(), json!(id));
    }
    if let Some(m) = mode {
        overrides.insert("mode".into(), json!(m));
    }
    let scope = if c.who.device_id.is_some() {
        "profile"
    } else {
        "gateway"
    };
    let mut cur = json!({ "id": id.unwrap_or(DEFAULT_THEME), "mode": mode.unwrap_or("system"),
                          "scope": scope, "overrides": overrides });
    if let Some(m @ ("light" | "dark")) = mode {
        cur["effectiveMode"] = json!(m);
    }
    let row = theme_row(id.unwrap_or(DEFAULT_THEME)).unwrap_or(Value::Null);
    (cur, row)
}

/// An accent the UI can draw: `#RRGGBB`, or `theme` (the theme's own).
fn accent(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s == "theme"
            || (s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit()))
    })
}

fn unavailable(id: &str) -> ErrorShape {
    invalid(format!(
        "Theme {id} is unavailable. List themes to choose an installed theme."
    ))
}

/// `themes.list {}`.
pub fn themes_list(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    strict(req, &[], &[])?;
    let (cur, row) = current(c);
    let all: Vec<Value> = THEMES.iter().filter_map(|t| theme_row(t.0)).collect();
    Ok(json!({ "current": cur, "theme": row, "themes": all }))
}

/// `themes.get {id?}`.
pub fn themes_get(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["id"], &[])?;
    let (cur, row) = current(c);
    let row = match p.get("id").and_then(Value::as_str) {
        Some(id) => theme_row(id).ok_or_else(|| unavailable(id))?,
        None => row,
    };
    Ok(json!({ "current": cur, "theme": row }))
}

/// `themes.set {id?, mode?, appearance?}`: `null` restores a default.
pub async fn themes_set(c: &Ctx, req: &RequestFrame<'_>) -> Result<Value, ErrorShape> {
    let p = strict(req, &["id", "mode", "appearance"], &[])?;
    let mut entries = Map::new();
    match p.get("id") {
        Some(Value::String(id)) if theme_row(id).is_none() => return Err(unavailable(id)),
        Some(v @ (Value::String(_) | Value::Null)) => {
            entries.insert(THEME_KEY.into(), v.clone());
        }
        Some(_) => {
            return Err(ErrorShape::invalid_params(
                "themes.set",
                "at /id: must be string",
            ))
        }
        None => {}
    }
    match p.get("mode") {
        Some(v @ Value::Null) => {
            entries.insert(MODE_KEY.into(), v.clone());
        }
        Some(Value::String(m)) if matches!(m.as_str(), "system" | "light" | "dark") => {
            entries.insert(MODE_KEY.into(), json!(m));
        }
        Some(_) => {
            return Err(ErrorShape::invalid_params(
                "themes.set",
                "at /mode: must match a schema in anyOf",
            ))
        }
        None => {}
    }
    if let Some(a) = p.get("appearance").and_then(Value::as_object) {
        for (k, v) in a {
            if !APPEARANCE.contains(&k.as_str()) || !(v.is_null() || k == "accent" && accent(v)) {
                return Err(invalid(format!("Unsupported appearance preference: {k}.")));
            }
            entries.insert(format!("ui.{k}"), v.clone());
        }
    }
    if entries.is_empty() {
        return Err(invalid(
            "Set a theme id or mode; use null to restore its default.",
        ));
    }
    if c.who.device_id.is_none() {
        return Err(invalid("Changing themes requires the requesting person's authenticated profile. Ask from your signed-in Control UI."));
    }
    write_prefs(c, &entries, None).await?;
    let (cur, row) = current(c);
    Ok(json!({ "current": cur, "theme": row, "application": "saved" }))
}
