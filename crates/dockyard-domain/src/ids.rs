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
                Self(next_ulid().to_string().to_ascii_lowercase())
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

/// The next ULID from a process-wide monotonic generator: ids made in the same
/// millisecond still sort in creation order, which keyset pagination relies on.
/// (Like a clock, this is process state by nature, not configuration.)
fn next_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow of the random part within one millisecond is practically impossible;
    // fall back to a plain ULID rather than fail.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
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
id_type!(JobId);
id_type!(SecretId);
id_type!(TerminalId);
id_type!(ServiceId);
id_type!(DeploymentId);
id_type!(AgentProfileId);
id_type!(AgentSessionId);

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
    fn ids_sort_by_creation_even_within_one_millisecond() {
        let ids: Vec<OrgId> = (0..1000).map(|_| OrgId::new()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
