//! Access control: signed document tokens and the admin key.
//!
//! Without a secret the server is open (anyone may edit any document). With one, every
//! document request needs an HS256 token naming the document (or a prefix ending in `*`)
//! and an access level. Refusals happen before any document is loaded.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use crate::auth_error::AuthError;
use crate::{metric_names as m, peer::Access};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claims {
    /// Document name, or a prefix followed by `*` (`team-*`; `*` alone is every document).
    pub doc: String,
    pub access: Access,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Shown in presence instead of a name the user picks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// May hand out access to this document (`POST /api/documents/{doc}/share`): tokens for
    /// the same document, with equal or lower access, that expire no later than this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub share: bool,
    /// Who handed out this link (the sharer's own name), so a holder whose link has
    /// expired knows whom to ask for a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The stored share link this token is (its short id): checked against revocation on
    /// every request, and the key a revocation closes live connections by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
}

impl Claims {
    pub fn covers(&self, doc: &str) -> bool {
        match self.doc.strip_suffix('*') {
            Some(prefix) => doc.starts_with(prefix),
            None => self.doc == doc,
        }
    }
}

/// Who is asking, once checked.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access: Access,
    pub name: Option<String>,
    pub admin: bool,
    /// The token's `share` claim (the admin key may always share).
    pub share: bool,
    /// When the token expires (seconds since the epoch); `None` for the admin key.
    pub exp: Option<u64>,
    /// The share link the token is (its `lid`), whose revocation ends it.
    pub link: Option<String>,
}

/// A digest of the credential a request presents (`?token=` or the bearer), to bind a
/// session to it without keeping the token itself.
pub fn credential(token: Option<&str>, bearer: Option<&str>) -> Option<[u8; 32]> {
    token.or(bearer).map(|t| digest(t.as_bytes()))
}

pub struct Auth {
    keys: Option<(EncodingKey, DecodingKey)>,
    /// SHA-256 of the admin key: comparing fixed-size digests takes the same time whatever
    /// the length of the key or of the guess, so timing reveals neither.
    admin_key: Option<[u8; 32]>,
}

/// Longest token lifetime accepted when minting (100 years); past it `expires_in` is a
/// mistake, and near `u64::MAX` it would wrap around to a token that expired long ago.
pub const MAX_LIFETIME_SECS: u64 = 100 * 365 * 24 * 3600;

/// The expiry of a token minted now that lives `lifetime` seconds, or `None` if that is
/// longer than [`MAX_LIFETIME_SECS`].
pub fn expiry_after(lifetime: u64) -> Option<u64> {
    if lifetime > MAX_LIFETIME_SECS {
        return None;
    }
    now_secs().checked_add(lifetime)
}

fn digest(key: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key).into()
}

impl Auth {
    pub fn new(secret: Option<&str>, admin_key: Option<&str>) -> Auth {
        Auth {
            keys: secret.filter(|s| !s.is_empty()).map(|s| {
                (
                    EncodingKey::from_secret(s.as_bytes()),
                    DecodingKey::from_secret(s.as_bytes()),
                )
            }),
            admin_key: admin_key
                .filter(|k| !k.is_empty())
                .map(|k| digest(k.as_bytes())),
        }
    }

    /// Admin actions need nothing: no secret and no admin key.
    pub fn admin_open(&self) -> bool {
        self.admin_key.is_none() && self.keys.is_none()
    }

    /// Whether admin actions are possible at all: open, or an admin key is set.
    pub fn has_admin(&self) -> bool {
        self.admin_open() || self.admin_key.is_some()
    }

    pub fn token_mode(&self) -> bool {
        self.keys.is_some()
    }

    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let (enc, _) = self.keys.as_ref()?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, enc).ok()
    }

    fn is_admin(&self, bearer: Option<&str>) -> bool {
        match (&self.admin_key, bearer) {
            (Some(key), Some(given)) => {
                use subtle::ConstantTimeEq;
                key.ct_eq(&digest(given.as_bytes())).into()
            }
            _ => false,
        }
    }

    /// Checks access to one document. `token` comes from `?token=`, `bearer` from the
    /// Authorization header; either may carry the token, and the bearer may be the admin key.
    pub fn document(
        &self,
        doc: &str,
        token: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<Grant, AuthError> {
        self.counted(self.check_document(Some(doc), token, bearer))
    }

    /// Checks a credential before the request says which document it is for (a new
    /// document's name is in the body): it must be the admin key or a valid token, so a
    /// request without one is refused before its body is read.
    pub fn any_document(
        &self,
        token: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<Grant, AuthError> {
        self.counted(self.check_document(None, token, bearer))
    }

    fn counted(&self, result: Result<Grant, AuthError>) -> Result<Grant, AuthError> {
        if let Err(err) = &result {
            metrics::counter!(m::AUTH_REFUSED, "reason" => err.label()).increment(1);
        }
        result
    }

    fn check_document(
        &self,
        doc: Option<&str>,
        token: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<Grant, AuthError> {
        let Some((_, dec)) = &self.keys else {
            return Ok(Grant {
                access: Access::Write,
                name: None,
                admin: false,
                share: false,
                exp: None,
                link: None,
            });
        };
        if self.is_admin(bearer) {
            return Ok(Grant {
                access: Access::Write,
                name: None,
                admin: true,
                share: true,
                exp: None,
                link: None,
            });
        }
        let token = token.or(bearer).ok_or(AuthError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        let claims = jsonwebtoken::decode::<Claims>(token, dec, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        if doc.is_some_and(|doc| !claims.covers(doc)) {
            return Err(AuthError::WrongDocument);
        }
        Ok(Grant {
            access: claims.access,
            name: claims.name,
            admin: false,
            share: claims.share,
            exp: Some(claims.exp),
            link: claims.lid,
        })
    }

    /// Who may follow the feed of many documents (`GET /api/changes`): `None` for every
    /// document (the admin key, or a private open server), else the token's claims, whose
    /// `doc` (a name, or a prefix ending in `*`) bounds what it sees. Like a listing, it
    /// names documents: without tokens, only the admin sees it.
    pub fn feed_scope(
        &self,
        token: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<Option<Claims>, AuthError> {
        if self.admin_open() || self.is_admin(bearer) {
            return Ok(None);
        }
        let Some((_, dec)) = &self.keys else {
            return self.admin(bearer).map(|()| None);
        };
        let token = token.or(bearer).ok_or(AuthError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        let claims =
            jsonwebtoken::decode::<Claims>(token, dec, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid,
                }
            })?;
        Ok(Some(claims.claims))
    }

    /// The admin API is open when no admin key and no secret are set (a private,
    /// single-user install); otherwise it needs the admin key.
    pub fn admin(&self, bearer: Option<&str>) -> Result<(), AuthError> {
        if self.admin_open() {
            return Ok(());
        }
        if self.is_admin(bearer) {
            return Ok(());
        }
        let err = if self.admin_key.is_some() {
            AuthError::AdminRequired
        } else {
            AuthError::NoAdminKey
        };
        metrics::counter!(m::AUTH_REFUSED, "reason" => err.label()).increment(1);
        Err(err)
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `tandem token`: mint a token offline with the server's secret.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Document name, or a prefix ending in `*`.
    #[arg(long)]
    pub doc: String,
    #[arg(long, value_enum, default_value_t = Access::Write)]
    pub access: Access,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86400)]
    pub expires_in: u64,
    /// User name shown in presence.
    #[arg(long)]
    pub name: Option<String>,
    /// Let the holder hand out links to the document (same or lower access, shorter life).
    #[arg(long)]
    pub share: bool,
    /// The server's `--secret`, which signs the token.
    #[arg(long, env = "TANDEM_SECRET", hide_env_values = true)]
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(doc: &str, access: Access, exp: u64) -> Claims {
        Claims {
            doc: doc.into(),
            access,
            exp,
            name: Some("ann".into()),
            share: false,
            by: None,
            lid: None,
        }
    }

    #[test]
    fn open_mode_grants_write() {
        let auth = Auth::new(None, None);
        assert_eq!(
            auth.document("x", None, None).unwrap().access,
            Access::Write
        );
        assert!(auth.admin(None).is_ok());
    }

    #[test]
    fn tokens_are_checked() {
        let auth = Auth::new(Some("s3cret"), Some("adm"));
        let later = now_secs() + 600;
        let t = auth.mint(&claims("doc-a", Access::Read, later)).unwrap();
        let g = auth.document("doc-a", Some(&t), None).unwrap();
        assert_eq!((g.access, g.name.as_deref()), (Access::Read, Some("ann")));
        assert_eq!(
            auth.document("doc-b", Some(&t), None).unwrap_err(),
            AuthError::WrongDocument
        );
        assert_eq!(
            auth.document("doc-a", None, None).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            auth.document("doc-a", Some("junk"), None).unwrap_err(),
            AuthError::Invalid
        );
        let other = Auth::new(Some("other"), None);
        let forged = other.mint(&claims("doc-a", Access::Write, later)).unwrap();
        assert_eq!(
            auth.document("doc-a", Some(&forged), None).unwrap_err(),
            AuthError::Invalid
        );
        let old = auth
            .mint(&claims("doc-a", Access::Write, now_secs() - 10))
            .unwrap();
        assert_eq!(
            auth.document("doc-a", Some(&old), None).unwrap_err(),
            AuthError::Expired
        );
        let prefix = auth.mint(&claims("team-*", Access::Write, later)).unwrap();
        assert!(auth.document("team-notes", Some(&prefix), None).is_ok());
        assert!(auth.document("other", Some(&prefix), None).is_err());
        assert!(auth.document("doc-z", None, Some("adm")).unwrap().admin);
        assert_eq!(
            auth.admin(Some("nope")).unwrap_err(),
            AuthError::AdminRequired
        );
        assert!(auth.admin(Some("adm")).is_ok());
        for near in ["ad", "admm", "Adm", ""] {
            assert!(auth.admin(Some(near)).is_err(), "{near:?} accepted");
        }
    }

    #[test]
    fn without_an_admin_key_nobody_is_admin_and_the_refusal_says_why() {
        let auth = Auth::new(Some("s3cret"), None);
        assert!(!auth.has_admin());
        let token = auth
            .mint(&claims("*", Access::Write, now_secs() + 600))
            .unwrap();
        for bearer in [None, Some(""), Some(token.as_str())] {
            assert_eq!(auth.admin(bearer).unwrap_err(), AuthError::NoAdminKey);
        }
        assert!(Auth::new(Some("s3cret"), Some("adm")).has_admin());
        assert!(Auth::new(None, None).has_admin());
    }

    #[test]
    fn lifetimes_that_would_wrap_are_refused() {
        assert_eq!(expiry_after(u64::MAX), None);
        assert_eq!(expiry_after(u64::MAX - now_secs() + 1), None);
        assert_eq!(expiry_after(MAX_LIFETIME_SECS + 1), None);
        let exp = expiry_after(MAX_LIFETIME_SECS).unwrap();
        assert!(exp > now_secs() + MAX_LIFETIME_SECS - 60);
    }
}
