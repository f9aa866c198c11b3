//! Document names, validated once at the edge so every other layer can trust them.

/// Longest accepted name, in bytes. Names appear in URLs, logs and database keys.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Why a document name was refused; the message is shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameError {
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
pub(crate) fn validate(name: &str) -> Result<(), NameError> {
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

/// Longest accepted title, in characters.
pub(crate) const MAX_TITLE_CHARS: usize = 200;

/// Why a title was refused; shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TitleError {
    #[error("a title is at most {MAX_TITLE_CHARS} characters")]
    TooLong,
    #[error("a title may not contain control characters such as line breaks")]
    ControlChar,
    #[error("a title {0}")]
    Invisible(InvisibleChar),
}

/// An invisible formatting character in a title or a user-visible name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("may not contain invisible formatting characters such as right-to-left overrides (found U+{0:04X})")]
pub(crate) struct InvisibleChar(pub(crate) u32);

/// Refuses characters that change how the text around them is shown while being invisible
/// themselves: bidirectional embeddings, overrides and isolates (U+202A-202E,
/// U+2066-2069), direction marks, zero-width spaces and joiners of words, soft hyphens and
/// byte-order marks. With them a title or name can show as something else (`exe.txt`
/// shown for `txt.exe`), or two that look the same can differ. The zero-width
/// (non-)joiners U+200C/U+200D stay: scripts and emoji sequences need them.
pub(crate) fn check_visible(text: &str) -> Result<(), InvisibleChar> {
    match text.chars().find(|c| {
        matches!(*c as u32,
            0x00AD | 0x061C | 0x180E | 0x200B | 0x200E | 0x200F | 0x202A..=0x202E
            | 0x2060..=0x2069 | 0xFEFF | 0xFFF9..=0xFFFB)
    }) {
        Some(c) => Err(InvisibleChar(c as u32)),
        None => Ok(()),
    }
}

/// Titles are free text (any script, spaces, emoji): only length and control characters are
/// limited. Returns the title trimmed.
pub(crate) fn validate_title(title: &str) -> Result<&str, TitleError> {
    let title = title.trim();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(TitleError::TooLong);
    }
    if title.chars().any(char::is_control) {
        return Err(TitleError::ControlChar);
    }
    check_visible(title).map_err(TitleError::Invisible)?;
    Ok(title)
}

/// Longest name derived from a title, leaving room for a `-N` suffix that makes it unique.
const DERIVED_MAX: usize = 60;

/// A URL-safe name for a title: accents dropped (`Café` -> `cafe`), words joined with `-`,
/// lower case, Cyrillic and Greek spelled in Latin letters (`Заметки` -> `zametki`). Titles
/// with no such letters or digits (CJK, emoji) give `doc`.
pub(crate) fn derive_name(title: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::new();
    let mut gap = false;
    // Cyrillic and Greek letters are spelled in Latin ones, before and after the accents
    // are taken apart (`й` is a letter of its own, `ά` is `α` with an accent).
    let spelled = title
        .chars()
        .flat_map(|c| match crate::transliterate::latin(c) {
            Some(latin) => latin.chars().collect::<Vec<_>>(),
            None => c
                .nfkd()
                .flat_map(|d| match crate::transliterate::latin(d) {
                    Some(latin) => latin.chars().collect::<Vec<_>>(),
                    None => vec![d],
                })
                .collect(),
        });
    for c in spelled {
        if c.is_ascii_alphanumeric() {
            let dash = gap && !out.is_empty();
            if out.len() + usize::from(dash) + 1 > DERIVED_MAX {
                break;
            }
            if dash {
                out.push('-');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if !unicode_normalization::char::is_combining_mark(c) {
            gap = true;
        }
    }
    if out.is_empty() {
        "doc".to_string()
    } else {
        out
    }
}

/// A document name that passed [`validate`]: what every layer behind the HTTP edge takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocName(String);

impl DocName {
    pub(crate) fn parse(name: String) -> Result<DocName, NameError> {
        validate(&name)?;
        Ok(DocName(name))
    }
}

impl std::ops::Deref for DocName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DocName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names_from_titles() {
        assert_eq!(derive_name("Meeting notes"), "meeting-notes");
        assert_eq!(derive_name("  Café  crème / 2026 "), "cafe-creme-2026");
        assert_eq!(derive_name("会议记录 📝"), "doc");
        assert_eq!(derive_name("Ünïcödé 会议 notes"), "unicode-notes");
        assert_eq!(derive_name("Заметки"), "zametki");
        assert_eq!(derive_name("Щи и каша"), "shchi-i-kasha");
        assert_eq!(derive_name("Σημειώσεις"), "simeioseis");
        let long = derive_name(&"word ".repeat(40));
        assert!(
            long.len() <= DERIVED_MAX && validate(&long).is_ok(),
            "{long}"
        );
        for t in ["Meeting notes", "a/b?c#d", "...", "-x-"] {
            assert_eq!(validate(&derive_name(t)), Ok(()), "{t}");
        }
    }

    #[test]
    fn titles_are_free_text_but_bounded() {
        assert_eq!(validate_title("  会议 📝 Café  "), Ok("会议 📝 Café"));
        assert_eq!(validate_title(&"é".repeat(200)).map(str::len), Ok(400));
        assert_eq!(validate_title(&"é".repeat(201)), Err(TitleError::TooLong));
        assert_eq!(validate_title("a\nb"), Err(TitleError::ControlChar));
        for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{FEFF}'] {
            let title = format!("report{c}fdp.exe");
            assert_eq!(
                validate_title(&title),
                Err(TitleError::Invisible(InvisibleChar(c as u32)))
            );
        }
        // Joiners stay: emoji sequences and some scripts need them.
        assert!(validate_title("👩\u{200D}💻 می\u{200C}خواهم").is_ok());
    }

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
