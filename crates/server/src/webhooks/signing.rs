//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` of
//! `"{id}.{timestamp}.{body}"`, keyed with the bytes of a `whsec_<base64>` secret, so
//! receivers verify with the published `standardwebhooks` libraries.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// Key bytes in a generated secret (the reference libraries use 24).
const KEY_BYTES: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SecretError {
    #[error("a webhook secret is \"whsec_\" followed by base64 (as generated when none is given)")]
    Format,
    #[error("a webhook secret's key must be between 16 and 64 bytes")]
    Length,
}

/// A fresh random `whsec_...` secret.
pub(crate) fn generate_secret() -> String {
    let mut key = [0u8; KEY_BYTES];
    rand::thread_rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_...` secret.
pub(crate) fn secret_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret.strip_prefix(PREFIX).ok_or(SecretError::Format)?;
    let key = STANDARD.decode(encoded).map_err(|_| SecretError::Format)?;
    if !(16..=64).contains(&key.len()) {
        return Err(SecretError::Length);
    }
    Ok(key)
}

/// The `webhook-signature` header value for one message.
pub(crate) fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference implementations.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_parse_and_differ() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert_eq!(secret_key(&a).unwrap().len(), KEY_BYTES);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(secret_key("MfKQ9r8GKYqrTwjU"), Err(SecretError::Format));
        assert_eq!(secret_key("whsec_not base64!"), Err(SecretError::Format));
        assert_eq!(secret_key("whsec_c2hvcnQ="), Err(SecretError::Length));
    }
}
