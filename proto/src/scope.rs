//! Operator scopes: the closed known set as a bitmask, the granted list, and satisfaction rules.

use std::ops::{BitOr, BitOrAssign};

/// `operator.read`.
pub const SCOPE_READ: &str = "operator.read";
/// `operator.write`.
pub const SCOPE_WRITE: &str = "operator.write";
/// `operator.admin`.
pub const SCOPE_ADMIN: &str = "operator.admin";
/// `operator.approvals`.
pub const SCOPE_APPROVALS: &str = "operator.approvals";
/// `operator.pairing`.
pub const SCOPE_PAIRING: &str = "operator.pairing";
/// `operator.questions`.
pub const SCOPE_QUESTIONS: &str = "operator.questions";
/// `operator.talk`.
pub const SCOPE_TALK: &str = "operator.talk";
/// `operator.talk.secrets`.
pub const SCOPE_TALK_SECRETS: &str = "operator.talk.secrets";

/// Prefix shared by every operator scope (known or future).
pub const OPERATOR_SCOPE_PREFIX: &str = "operator.";

/// The closed set of known operator scopes, in canonical order, with their bits.
pub const KNOWN_SCOPES: [(&str, Scopes); 8] = [
    (SCOPE_READ, Scopes::READ),
    (SCOPE_WRITE, Scopes::WRITE),
    (SCOPE_ADMIN, Scopes::ADMIN),
    (SCOPE_APPROVALS, Scopes::APPROVALS),
    (SCOPE_PAIRING, Scopes::PAIRING),
    (SCOPE_QUESTIONS, Scopes::QUESTIONS),
    (SCOPE_TALK, Scopes::TALK),
    (SCOPE_TALK_SECRETS, Scopes::TALK_SECRETS),
];

/// A set of known operator scopes as a bitmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u16);

impl Scopes {
    /// No scopes.
    pub const EMPTY: Scopes = Scopes(0);
    /// `operator.read`.
    pub const READ: Scopes = Scopes(1 << 0);
    /// `operator.write`.
    pub const WRITE: Scopes = Scopes(1 << 1);
    /// `operator.admin`.
    pub const ADMIN: Scopes = Scopes(1 << 2);
    /// `operator.approvals`.
    pub const APPROVALS: Scopes = Scopes(1 << 3);
    /// `operator.pairing`.
    pub const PAIRING: Scopes = Scopes(1 << 4);
    /// `operator.questions`.
    pub const QUESTIONS: Scopes = Scopes(1 << 5);
    /// `operator.talk`.
    pub const TALK: Scopes = Scopes(1 << 6);
    /// `operator.talk.secrets`.
    pub const TALK_SECRETS: Scopes = Scopes(1 << 7);

    /// Raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when at least one bit of `other` is set in `self`.
    pub const fn intersects(self, other: Scopes) -> bool {
        self.0 & other.0 != 0
    }

    /// True when no scope is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bit of a known scope name.
    pub fn from_name(name: &str) -> Option<Scopes> {
        KNOWN_SCOPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bit)| *bit)
    }

    /// Folds a scope list into bits; returns the names that are not known scopes (order kept).
    pub fn from_strs(list: &[String]) -> (Scopes, Vec<String>) {
        let mut bits = Scopes::EMPTY;
        let mut unknown = Vec::new();
        for name in list {
            match Scopes::from_name(name) {
                Some(bit) => bits |= bit,
                None => unknown.push(name.clone()),
            }
        }
        (bits, unknown)
    }

    /// Names of the set scopes in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KNOWN_SCOPES
            .iter()
            .filter(move |(_, bit)| self.contains(*bit))
            .map(|(name, _)| *name)
    }
}

impl BitOr for Scopes {
    type Output = Scopes;
    fn bitor(self, rhs: Scopes) -> Scopes {
        Scopes(self.0 | rhs.0)
    }
}

impl BitOrAssign for Scopes {
    fn bitor_assign(&mut self, rhs: Scopes) {
        self.0 |= rhs.0;
    }
}

/// True for the eight scopes of the closed operator set.
pub fn is_known_scope(name: &str) -> bool {
    Scopes::from_name(name).is_some()
}

/// The scopes enforced on one socket: bits for the known ones plus the list as granted
/// (order kept, for echo in `hello-ok.auth.scopes`; unknown future scopes live only here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantedScopes {
    bits: Scopes,
    list: Vec<String>,
}

impl GrantedScopes {
    /// Builds from the granted list, kept exactly as given (order and duplicates).
    pub fn new(list: Vec<String>) -> Self {
        let (bits, _) = Scopes::from_strs(&list);
        GrantedScopes { bits, list }
    }

    /// No scopes at all (e.g. a device-less probe connection).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Bits of the known scopes granted.
    pub fn bits(&self) -> Scopes {
        self.bits
    }

    /// The granted list, as granted.
    pub fn list(&self) -> &[String] {
        &self.list
    }

    /// True when nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// True when `name` was granted literally (no implication rules).
    pub fn contains_exact(&self, name: &str) -> bool {
        match Scopes::from_name(name) {
            Some(bit) => self.bits.contains(bit),
            None => self.list.iter().any(|s| s == name),
        }
    }
}

/// Whether `granted` satisfies the `required` scope:
/// * `operator.admin` satisfies every `operator.*` scope, including unknown future ones;
/// * `operator.write` satisfies `operator.read` and `operator.talk`;
/// * anything else needs an exact match.
pub fn satisfies(granted: &GrantedScopes, required: &str) -> bool {
    let bits = granted.bits;
    if bits.contains(Scopes::ADMIN) && required.starts_with(OPERATOR_SCOPE_PREFIX) {
        return true;
    }
    match Scopes::from_name(required) {
        Some(Scopes::READ) => bits.intersects(Scopes::READ | Scopes::WRITE),
        Some(Scopes::TALK) => bits.intersects(Scopes::TALK | Scopes::WRITE),
        Some(bit) => bits.contains(bit),
        None => granted.list.iter().any(|s| s == required),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(list: &[&str]) -> GrantedScopes {
        GrantedScopes::new(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn from_strs_splits_unknown() {
        let list: Vec<String> = ["operator.read", "operator.future", "operator.talk", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (bits, unknown) = Scopes::from_strs(&list);
        assert_eq!(bits, Scopes::READ | Scopes::TALK);
        assert_eq!(unknown, vec!["operator.future", "x"]);
        assert_eq!(
            bits.names().collect::<Vec<_>>(),
            vec!["operator.read", "operator.talk"]
        );
    }

    #[test]
    fn known_scopes() {
        for (name, bit) in KNOWN_SCOPES {
            assert!(is_known_scope(name));
            assert_eq!(Scopes::from_name(name), Some(bit));
        }
        assert!(!is_known_scope("operator.future"));
        assert!(!is_known_scope("operator"));
        let all = KNOWN_SCOPES
            .iter()
            .fold(Scopes::EMPTY, |acc, (_, b)| acc | *b);
        assert_eq!(all.bits().count_ones(), 8);
    }

    #[test]
    fn satisfaction_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["operator.admin"], "operator.read", true),
            (&["operator.admin"], "operator.talk.secrets", true),
            (&["operator.admin"], "operator.future.thing", true),
            (&["operator.admin"], "node", false),
            (&["operator.write"], "operator.read", true),
            (&["operator.write"], "operator.talk", true),
            (&["operator.write"], "operator.talk.secrets", false),
            (&["operator.write"], "operator.admin", false),
            (&["operator.write"], "operator.approvals", false),
            (&["operator.read"], "operator.read", true),
            (&["operator.read"], "operator.write", false),
            (&["operator.read"], "operator.talk", false),
            (&["operator.talk"], "operator.read", false),
            (&["operator.talk.secrets"], "operator.talk", false),
            (&["operator.approvals"], "operator.approvals", true),
            (&["operator.pairing"], "operator.approvals", false),
            (&["operator.questions"], "operator.questions", true),
            (&["operator.future"], "operator.future", true),
            (&["operator.write"], "operator.future", false),
            (&[], "operator.read", false),
            (&["node"], "node", true),
        ];
        for (list, required, want) in cases {
            assert_eq!(
                satisfies(&g(list), required),
                *want,
                "{list:?} ⊨ {required}"
            );
        }
    }

    #[test]
    fn granted_keeps_order() {
        let gs = g(&["operator.write", "operator.future", "operator.read"]);
        assert_eq!(
            gs.list(),
            &["operator.write", "operator.future", "operator.read"]
        );
        assert_eq!(gs.bits(), Scopes::WRITE | Scopes::READ);
        assert!(gs.contains_exact("operator.future"));
        assert!(!gs.contains_exact("operator.admin"));
        assert!(GrantedScopes::empty().is_empty());
    }
}
