//! Validated inputs. Everything a user types is parsed into one of these types at
//! the edge; the rest of the system only ever sees values that passed.

use std::fmt;

use serde::Serialize;

/// Why an input was refused: the field, a stable machine-readable code and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { field, code, message: message.into() }
    }
}

/// A lower-cased e-mail address with one `@`, a non-empty local part and a dotted domain.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_lowercase();
        let invalid =
            || ValidationError::new("email", "invalid_email", "must be an e-mail address such as ada@example.com");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A DNS-label-safe identifier: 1–63 of `a-z`, `0-9` and inner `-`.
/// Slugs appear in URLs and, later, in generated host names.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Slug(String);

impl Slug {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                field,
                "invalid_slug",
                "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ))
        }
    }

    /// Derives a slug from a display name: "My App!" becomes "my-app".
    pub fn from_name(field: &'static str, name: &str) -> Result<Self, ValidationError> {
        let mut slug = String::with_capacity(name.len());
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = if slug.len() > 63 { slug[..63].trim_end_matches('-') } else { slug };
        Self::parse(field, slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1–100 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim();
        let length = value.chars().count();
        if length == 0 || length > 100 || value.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "invalid_name",
                "must be 1-100 characters without control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Free text of at most 2000 characters.
pub fn description(raw: &str) -> Result<String, ValidationError> {
    if raw.chars().count() > 2000 {
        return Err(ValidationError::new("description", "too_long", "must be at most 2000 characters"));
    }
    Ok(raw.trim().to_owned())
}

/// A password that meets the policy. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

/// The minimum password policy: long enough, not absurdly long (argon2 cost),
/// not one repeated character, and not the account's own e-mail address.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

impl Password {
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ValidationError::new(
                "password",
                "weak_password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationError::new(
                "password",
                "password_too_long",
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        let mut distinct: Vec<char> = raw.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 {
            return Err(ValidationError::new("password", "weak_password", "must use at least 4 different characters"));
        }
        if email.is_some_and(|email| raw.eq_ignore_ascii_case(email.as_str())) {
            return Err(ValidationError::new("password", "weak_password", "must not be the e-mail address"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password given at login is checked against the stored hash, never against
    /// the policy, so that a policy change does not lock anybody out.
    pub fn unchecked(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse(" Ada@Example.COM ").expect("valid").as_str(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a b@example.com", "ada@@example.com", "ada@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn slugs_are_dns_labels() {
        assert!(Slug::parse("slug", "my-app-2").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Slug::from_name("slug", "My  App!").expect("derivable").as_str(), "my-app");
        assert!(Slug::from_name("slug", "!!!").is_err());
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("ada@example.com").expect("valid");
        assert!(Password::parse("correct horse", Some(&email)).is_ok());
        assert_eq!(Password::parse("short", None).unwrap_err().code, "weak_password");
        assert_eq!(Password::parse("aaaaaaaaaaaa", None).unwrap_err().code, "weak_password");
        assert_eq!(Password::parse("ADA@example.com", Some(&email)).unwrap_err().code, "weak_password");
        assert_eq!(Password::parse(&"ab1!".repeat(300), None).unwrap_err().code, "password_too_long");
        assert_eq!(format!("{:?}", Password::unchecked("secret")), "Password(<redacted>)");
    }
}
