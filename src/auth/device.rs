//! Device identity checks at connect: Ed25519 public key, id = SHA-256 of the key, nonce
//! bound to this socket's challenge, `signedAt` within ±120 s, and a signature over the v3
//! (preferred) or v2 payload string.

use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use openclaw_proto::connect::{ConnectDevice, ConnectParams};
use openclaw_proto::device::{payload_v2, payload_v3, signature_token, DEVICE_SIGNATURE_SKEW_MS};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (the 32 key bytes follow).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A failed device check: `details.code`, message, `details.reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReject {
    /// `details.code`, e.g. `DEVICE_AUTH_SIGNATURE_INVALID`.
    pub code: &'static str,
    /// Human message, also the close reason.
    pub message: &'static str,
    /// `details.reason`, e.g. `device-signature`.
    pub reason: &'static str,
}

const fn reject(code: &'static str, message: &'static str, reason: &'static str) -> DeviceReject {
    DeviceReject {
        code,
        message,
        reason,
    }
}

fn b64_any(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// Decode a device public key: base64url of the raw 32 bytes, or a PEM SPKI block.
pub fn decode_public_key(s: &str) -> Option<[u8; 32]> {
    let raw = if s.contains("BEGIN PUBLIC KEY") {
        let body: String = s
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("");
        let der = b64_any(&body)?;
        if der.len() != 44 || der[..12] != ED25519_SPKI_PREFIX {
            return None;
        }
        der[12..].to_vec()
    } else {
        b64_any(s)?
    };
    raw.try_into().ok()
}

/// Device id of a raw public key: lower-case hex SHA-256.
pub fn device_id(pk: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(pk))
}

/// Base64url (no padding) of raw bytes.
pub fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Verify the device block of `params` against this socket's challenge `nonce`.
///
/// # Errors
/// The first failed check, in the order the Node gateway reports them.
pub fn verify(
    dev: &ConnectDevice,
    params: &ConnectParams,
    nonce: &str,
    now_ms: u64,
) -> Result<[u8; 32], DeviceReject> {
    let pk = decode_public_key(&dev.public_key).ok_or(reject(
        "DEVICE_AUTH_PUBLIC_KEY_INVALID",
        "device public key invalid",
        "device-public-key",
    ))?;
    if device_id(&pk) != dev.id.to_ascii_lowercase() {
        return Err(reject(
            "DEVICE_AUTH_DEVICE_ID_MISMATCH",
            "device identity mismatch",
            "device-id-mismatch",
        ));
    }
    if dev.nonce.trim().is_empty() {
        return Err(reject(
            "DEVICE_AUTH_NONCE_REQUIRED",
            "device nonce required",
            "device-nonce-missing",
        ));
    }
    if dev.nonce != nonce {
        return Err(reject(
            "DEVICE_AUTH_NONCE_MISMATCH",
            "device nonce mismatch",
            "device-nonce-mismatch",
        ));
    }
    let signed_at = dev.signed_at;
    if (now_ms as i128 - signed_at as i128).unsigned_abs() > DEVICE_SIGNATURE_SKEW_MS as u128 {
        return Err(reject(
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device signature expired",
            "device-signature-stale",
        ));
    }
    let invalid = reject(
        "DEVICE_AUTH_SIGNATURE_INVALID",
        "device signature invalid",
        "device-signature",
    );
    let sig_bytes: [u8; 64] = b64_any(&dev.signature)
        .and_then(|v| v.try_into().ok())
        .ok_or(invalid.clone())?;
    let sig = Signature::from_bytes(&sig_bytes);
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| {
        reject(
            "DEVICE_AUTH_PUBLIC_KEY_INVALID",
            "device public key invalid",
            "device-public-key",
        )
    })?;
    let role = params.role.as_deref().unwrap_or("operator");
    let scopes = params.scopes.clone().unwrap_or_default();
    let token = signature_token(params.auth.as_ref());
    let c = &params.client;
    let v3 = payload_v3(
        &dev.id,
        &c.id,
        &c.mode,
        role,
        &scopes,
        signed_at,
        token,
        &dev.nonce,
        Some(c.platform.as_str()),
        c.device_family.as_deref(),
    );
    if key.verify_strict(v3.as_bytes(), &sig).is_ok() || key.verify(v3.as_bytes(), &sig).is_ok() {
        return Ok(pk);
    }
    let v2 = payload_v2(
        &dev.id, &c.id, &c.mode, role, &scopes, signed_at, token, &dev.nonce,
    );
    if key.verify(v2.as_bytes(), &sig).is_ok() {
        return Ok(pk);
    }
    Err(invalid)
}

/// A fresh device token (32 random bytes, base64url).
pub fn new_device_token() -> String {
    b64url(&rand::random::<[u8; 32]>())
}
