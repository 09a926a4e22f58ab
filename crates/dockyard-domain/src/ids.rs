//! Opaque, sortable identifiers (ULIDs) behind newtypes, so that a `UserId`
//! can never be passed where a `ProjectId` is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh id; ids sort by creation time.
            pub fn new() -> Self {
                Self(ulid::Ulid::new().to_string().to_ascii_lowercase())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from storage, which was validated on the way in.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                if is_ulid_text(&value) {
                    Ok(Self(value.to_ascii_lowercase()))
                } else {
                    Err(InvalidId)
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(value: &str) -> Result<Self, InvalidId> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

/// A string that is not a well-formed id. Callers treat it as "no such resource".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id")]
pub struct InvalidId;

fn is_ulid_text(value: &str) -> bool {
    value.len() == 26 && ulid::Ulid::from_string(value).is_ok()
}

id_type!(UserId);
id_type!(OrgId);
id_type!(ProjectId);
id_type!(SessionId);
id_type!(TokenId);
id_type!(AuditId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = ProjectId::new();
        let parsed: ProjectId = id.as_str().parse().expect("valid id parses");
        assert_eq!(parsed, id);
        assert!("../etc/passwd".parse::<ProjectId>().is_err());
        assert!("".parse::<ProjectId>().is_err());
        assert!("01ARZ3NDEKTSV4RRFFQ69G5FAVX".parse::<ProjectId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation() {
        let first = OrgId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = OrgId::new();
        assert!(first < second);
    }
}
