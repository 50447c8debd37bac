//! What the CLI reads out of `hello-ok`: server identity, granted role/scopes, and the
//! capability the stock CLI derives from those scopes.

use serde_json::{json, Value};

/// What the granted scopes let this connection do (stock CLI vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Connected, but no operator scope was granted (device-less probe).
    NoOperatorScope,
    ReadOnly,
    WriteCapable,
    AdminCapable,
}

impl Capability {
    /// From granted scope names.
    pub fn from_scopes<S: AsRef<str>>(scopes: &[S]) -> Capability {
        let has = |s: &str| scopes.iter().any(|x| x.as_ref() == s);
        if has("operator.admin") {
            Capability::AdminCapable
        } else if has("operator.write") {
            Capability::WriteCapable
        } else if has("operator.read") {
            Capability::ReadOnly
        } else {
            Capability::NoOperatorScope
        }
    }

    /// `gateway status` text: `connected-no-operator-scope`, `read-only`, ….
    pub fn label(self) -> &'static str {
        match self {
            Capability::NoOperatorScope => "connected-no-operator-scope",
            Capability::ReadOnly => "read-only",
            Capability::WriteCapable => "write-capable",
            Capability::AdminCapable => "admin-capable",
        }
    }

    /// `gateway probe` per-target text: `connect-only` instead of the no-scope label.
    pub fn target_label(self) -> &'static str {
        match self {
            Capability::NoOperatorScope => "connect-only",
            other => other.label(),
        }
    }

    /// JSON form: `connected_no_operator_scope`, `read_only`, ….
    pub fn json_key(self) -> &'static str {
        match self {
            Capability::NoOperatorScope => "connected_no_operator_scope",
            Capability::ReadOnly => "read_only",
            Capability::WriteCapable => "write_capable",
            Capability::AdminCapable => "admin_capable",
        }
    }
}

/// The `hello-ok` payload with typed accessors.
#[derive(Clone, Debug)]
pub struct Hello(pub Value);

impl Hello {
    fn str_at(&self, a: &str, b: &str) -> Option<&str> {
        self.0.get(a)?.get(b)?.as_str()
    }

    /// `server.version`.
    pub fn server_version(&self) -> Option<&str> {
        self.str_at("server", "version")
    }

    /// `server.connId`.
    pub fn conn_id(&self) -> Option<&str> {
        self.str_at("server", "connId")
    }

    /// `auth.role` (default `operator`).
    pub fn role(&self) -> &str {
        self.str_at("auth", "role").unwrap_or("operator")
    }

    /// `auth.scopes` as granted.
    pub fn scopes(&self) -> Vec<String> {
        crate::json::strings(self.0.get("auth").and_then(|a| a.get("scopes")))
    }

    /// Capability derived from the granted scopes.
    pub fn capability(&self) -> Capability {
        Capability::from_scopes(&self.scopes())
    }

    /// `{version, buildId, connId}` as `gateway status --json` prints it.
    pub fn server_summary(&self) -> Value {
        let s = self.0.get("server").cloned().unwrap_or(Value::Null);
        json!({
            "version": s.get("version").cloned().unwrap_or(Value::Null),
            "buildId": s.get("buildId").cloned().unwrap_or(Value::Null),
            "connId": s.get("connId").cloned().unwrap_or(Value::Null),
        })
    }

    /// `{role, scopes, capability}` as `gateway status --json` prints it.
    pub fn auth_summary(&self) -> Value {
        json!({
            "role": self.role(),
            "scopes": self.scopes(),
            "capability": self.capability().json_key(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_from_scopes() {
        let none: [&str; 0] = [];
        assert_eq!(Capability::from_scopes(&none), Capability::NoOperatorScope);
        assert_eq!(
            Capability::from_scopes(&["operator.read"]).label(),
            "read-only"
        );
        assert_eq!(
            Capability::from_scopes(&["operator.read", "operator.write"]),
            Capability::WriteCapable
        );
        assert_eq!(
            Capability::from_scopes(&["operator.admin"]).json_key(),
            "admin_capable"
        );
        assert_eq!(Capability::NoOperatorScope.target_label(), "connect-only");
    }
}
