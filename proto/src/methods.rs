//! Method → required scope lookup over the generated schema table, plus reserved admin prefixes.

use crate::methods_table::METHOD_SCOPES;
use crate::scope::SCOPE_ADMIN;

pub use crate::methods_table::METHOD_COUNT;

/// Scope string the schema uses for methods whose scope depends on their params.
pub const SCOPE_DYNAMIC: &str = "dynamic";
/// Scope string the schema uses for node-role methods (`node.event`, `node.invoke.result`, …).
pub const SCOPE_NODE_ROLE: &str = "node";

/// Method-name prefixes that require `operator.admin` when the method has no explicit entry
/// in the schema table (so plugins cannot register lower-scoped methods under them).
pub const RESERVED_ADMIN_PREFIXES: [&str; 4] = ["config.", "exec.approvals.", "wizard.", "update."];

/// What a caller must hold to invoke a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredScope {
    /// No scope needed. Never produced by [`required_scope`]; for gateway overrides
    /// (e.g. `health`, which the real gateway answers with empty scopes).
    None,
    /// This operator scope (checked with [`crate::scope::satisfies`]).
    Scope(&'static str),
    /// The scope depends on the params; the handler decides (schema scope `dynamic`).
    Dynamic,
    /// A node-originated method: requires `role:"node"`, not an operator scope
    /// (schema scope `node`).
    Node,
    /// Not a schema method and not under a reserved prefix.
    Unknown,
}

/// The schema's scope string for `method` (`operator.*`, `dynamic` or `node`).
pub fn method_scope(method: &str) -> Option<&'static str> {
    METHOD_SCOPES
        .binary_search_by(|(name, _)| name.as_bytes().cmp(method.as_bytes()))
        .ok()
        .map(|i| METHOD_SCOPES[i].1)
}

/// True when `method` starts with one of [`RESERVED_ADMIN_PREFIXES`].
pub fn is_reserved_admin_method(method: &str) -> bool {
    RESERVED_ADMIN_PREFIXES
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

/// Resolves the scope needed for `method`: the schema table entry first, then the reserved
/// admin prefixes for methods the table does not list, else [`RequiredScope::Unknown`].
///
/// The explicit table wins over the prefixes, as in the reference gateway: the schema lists
/// `config.get`, `config.schema` and `config.schema.lookup` as `operator.read`.
pub fn required_scope(method: &str) -> RequiredScope {
    match method_scope(method) {
        Some(SCOPE_DYNAMIC) => RequiredScope::Dynamic,
        Some(SCOPE_NODE_ROLE) => RequiredScope::Node,
        Some(scope) => RequiredScope::Scope(scope),
        None if is_reserved_admin_method(method) => RequiredScope::Scope(SCOPE_ADMIN),
        None => RequiredScope::Unknown,
    }
}

/// Every schema method with its scope string, sorted by name.
pub fn all_methods() -> &'static [(&'static str, &'static str)] {
    &METHOD_SCOPES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::is_known_scope;

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert_eq!(METHOD_COUNT, 410);
        assert!(METHOD_SCOPES
            .windows(2)
            .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes()));
        for (name, scope) in all_methods() {
            assert_eq!(method_scope(name), Some(*scope));
            assert!(
                is_known_scope(scope) || *scope == SCOPE_DYNAMIC || *scope == SCOPE_NODE_ROLE,
                "{name}: {scope}"
            );
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(method_scope("health"), Some("operator.read"));
        assert_eq!(method_scope("system-event"), Some("operator.admin"));
        assert_eq!(method_scope("no.such.method"), None);
        assert_eq!(method_scope(""), None);
        assert_eq!(
            required_scope("health"),
            RequiredScope::Scope("operator.read")
        );
        assert_eq!(
            required_scope("status"),
            RequiredScope::Scope("operator.read")
        );
        assert_eq!(
            required_scope("system-presence"),
            RequiredScope::Scope("operator.read")
        );
        assert_eq!(
            required_scope("system-event"),
            RequiredScope::Scope("operator.admin")
        );
        assert_eq!(required_scope("agent"), RequiredScope::Dynamic);
        assert_eq!(required_scope("node.event"), RequiredScope::Node);
        assert_eq!(required_scope("no.such.method"), RequiredScope::Unknown);
    }

    #[test]
    fn reserved_prefixes() {
        // Listed in the schema: the explicit entry wins.
        assert_eq!(
            required_scope("config.get"),
            RequiredScope::Scope("operator.read")
        );
        assert_eq!(
            required_scope("config.set"),
            RequiredScope::Scope("operator.admin")
        );
        assert_eq!(
            required_scope("exec.approvals.get"),
            RequiredScope::Scope("operator.admin")
        );
        // Not listed: the reserved prefix forces admin.
        for m in ["config.future", "exec.approvals.x", "wizard.y", "update.z"] {
            assert!(is_reserved_admin_method(m));
            assert_eq!(
                required_scope(m),
                RequiredScope::Scope("operator.admin"),
                "{m}"
            );
        }
        assert!(!is_reserved_admin_method("configx.get"));
        assert!(!is_reserved_admin_method("exec.approval.request"));
    }
}
