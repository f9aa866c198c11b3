//! Document names, validated once at the edge so every other layer can trust them.

/// Longest accepted name, in bytes. Names appear in URLs, logs and database keys.
pub const MAX_NAME_LEN: usize = 128;

/// Why a document name was refused; the message is shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("document name is empty")]
    Empty,
    #[error("document name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("document name may not start with '.'")]
    LeadingDot,
    #[error("document name may only contain letters, digits and - _ . ~ : (found {0:?})")]
    BadChar(char),
}

/// Accepts `A-Z a-z 0-9 - _ . ~ :`, 1..=128 characters, no leading dot: safe in a URL path
/// segment without escaping, and never a relative path.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':')))
    {
        Some(c) => Err(NameError::BadChar(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["a", "my-doc", "team:notes_2026.md", "x~y", &"a".repeat(128)] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(validate(""), Err(NameError::Empty));
        assert_eq!(validate(&"a".repeat(129)), Err(NameError::TooLong));
        assert_eq!(validate(".hidden"), Err(NameError::LeadingDot));
        assert_eq!(validate("a/b"), Err(NameError::BadChar('/')));
        assert_eq!(validate("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(validate("é"), Err(NameError::BadChar('é')));
    }
}
