//! A test device identity: an Ed25519 key, its id and public key as the gateway derives
//! them, and the v2/v3 device-auth payload strings signed for a client's challenge (written
//! independently of the gateway's own code).

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::util::Client;

/// An Ed25519 device identity.
pub struct Device {
    pub key: SigningKey,
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Device {
    /// A random device.
    pub fn new() -> Self {
        Device {
            key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
        }
    }

    /// Base64url raw public key.
    pub fn public_key(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes())
    }

    /// Hex SHA-256 of the raw public key.
    pub fn id(&self) -> String {
        hex::encode(Sha256::digest(self.key.verifying_key().to_bytes()))
    }

    /// Sign `payload`, base64url.
    pub fn sign(&self, payload: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.key.sign(payload.as_bytes()).to_bytes())
    }

    /// The fields both payload versions sign: (client, scopes joined, token).
    fn signed_fields(p: &Value) -> (&Value, String, &str) {
        let scopes: Vec<&str> = p["scopes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let token = p["auth"]["token"]
            .as_str()
            .or(p["auth"]["deviceToken"].as_str())
            .unwrap_or("");
        (&p["client"], scopes.join(","), token)
    }

    /// The v2 payload string (observed.md layout), written independently of the gateway's.
    pub fn v2_payload(&self, p: &Value, signed_at: u64, nonce: &str) -> String {
        let (c, scopes, token) = Self::signed_fields(p);
        format!(
            "v2|{}|{}|{}|{}|{}|{}|{}|{}",
            self.id(),
            c["id"].as_str().unwrap(),
            c["mode"].as_str().unwrap(),
            p["role"].as_str().unwrap_or("operator"),
            scopes,
            signed_at,
            token,
            nonce
        )
    }

    /// The v3 payload string: v2 plus normalised platform and device family.
    pub fn v3_payload(&self, p: &Value, signed_at: u64, nonce: &str) -> String {
        let c = &p["client"];
        let norm = |v: &Value| v.as_str().unwrap_or("").trim().to_ascii_lowercase();
        let v2 = self.v2_payload(p, signed_at, nonce);
        format!(
            "v3{}|{}|{}",
            &v2[2..],
            norm(&c["platform"]),
            norm(&c["deviceFamily"])
        )
    }

    /// Add a v3-signed device block to `p` for the client's challenge.
    pub fn attach(&self, p: &mut Value, c: &Client) {
        let payload = self.v3_payload(p, c.challenge_ts, &c.nonce);
        p["device"] = json!({
            "id": self.id(), "publicKey": self.public_key(), "signature": self.sign(&payload),
            "signedAt": c.challenge_ts, "nonce": c.nonce,
        });
    }
}
