//! Random tokens, their hashes, password hashing with Argon2id, and the keyring
//! that seals secrets at rest (XChaCha20-Poly1305).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// `n` random bytes from the OS, base64url-encoded.
pub(crate) fn random_token(n_bytes: usize) -> Result<String, ServiceError> {
    let mut bytes = vec![0u8; n_bytes];
    getrandom::fill(&mut bytes).map_err(|error| ServiceError::Internal(format!("getrandom: {error}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a bearer secret (session cookie, API token, setup token).
/// The secrets carry 256 bits of entropy, so a fast hash is enough.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with Argon2id (the crate's defaults follow OWASP's guidance),
/// off the async threads.
pub(crate) async fn hash_password(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| ServiceError::Internal(error.to_string()))
    })
    .await
    .map_err(|error| ServiceError::Internal(error.to_string()))?
}

/// Checks a password against a stored hash, off the async threads.
pub(crate) async fn verify_password(password: String, hash: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        .await
        .map_err(|error| ServiceError::Internal(error.to_string()))
}

// ---------------------------------------------------------------------------
// Secrets at rest: XChaCha20-Poly1305 under a keyring with key ids.

/// The length of a secrets key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Hashed with a key to name it, so a key id never equals a hash of the bare key.
const KEY_ID_TAG: &[u8] = b"dockyard secrets key id v1\0";

/// A 256-bit secrets key. Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct SecretKey(zeroize::Zeroizing<[u8; KEY_BYTES]>);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(zeroize::Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, ServiceError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|error| ServiceError::Internal(format!("getrandom: {error}")))?;
        Ok(Self(bytes))
    }

    /// Parses the base64 form used in the config (`secrets.key`, `secrets.previous_keys`).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        use base64::engine::general_purpose::STANDARD;
        let decoded = zeroize::Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| "is not valid base64 (generate one with `openssl rand -base64 32`)")?,
        );
        Self::from_slice(&decoded).ok_or_else(|| {
            format!(
                "must decode to {KEY_BYTES} bytes, not {} (generate one with `openssl rand -base64 32`)",
                decoded.len()
            )
        })
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; KEY_BYTES] = bytes.try_into().ok()?;
        Some(Self::from_bytes(array))
    }

    /// The key's id: the first 16 hex digits of SHA-256 over a domain tag and the key.
    pub fn id(&self) -> KeyId {
        let mut hasher = Sha256::new();
        hasher.update(KEY_ID_TAG);
        hasher.update(self.0.as_ref());
        KeyId(hex::encode(hasher.finalize())[..16].to_owned())
    }

    /// The key as base64, for writing it somewhere safe.
    pub fn to_base64(&self) -> zeroize::Zeroizing<String> {
        use base64::engine::general_purpose::STANDARD;
        zeroize::Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// Names a key without revealing it; stored with every sealed row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sealed value: the key that sealed it, a random nonce, and the ciphertext with its tag.
pub(crate) struct Sealed {
    pub key_id: KeyId,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("it was sealed with key {0}, which is not in the keyring (add it to secrets.previous_keys)")]
    UnknownKey(String),
    #[error("it does not authenticate: a wrong key with the same id, or a changed or moved row")]
    Forged,
}

/// Where the keys come from: `secrets.key` (base64), else the key file; plus
/// the previous keys that still open older rows until they are rotated.
#[derive(Clone)]
pub struct KeySource {
    pub key: Option<String>,
    pub previous_keys: Vec<String>,
    /// Read when `key` is unset; created (32 random bytes, mode 0600) when absent.
    pub key_file: std::path::PathBuf,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("key", &self.key.as_ref().map(|_| "****"))
            .field("previous_keys", &self.previous_keys.len())
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// A key that could not be loaded, naming its config key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyringError {
    pub key: String,
    pub message: String,
}

impl KeyringError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// The current key (which seals every write) and the previous ones (which only open).
#[derive(Clone)]
pub struct Keyring {
    current: (KeyId, SecretKey),
    previous: Vec<(KeyId, SecretKey)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.0)
            .field("previous", &self.previous.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        let current_id = current.id();
        let previous = previous.into_iter().map(|key| (key.id(), key)).filter(|(id, _)| *id != current_id).collect();
        Self { current: (current_id, current), previous }
    }

    /// A keyring with one fresh random key: for tests and commands that never touch secrets.
    pub fn generate() -> Result<Self, ServiceError> {
        Ok(Self::new(SecretKey::generate()?, Vec::new()))
    }

    /// Loads the keys the config names. A missing key file is created with a fresh
    /// key; a key file with the wrong length, or readable by group or others, is an error.
    pub fn load(source: &KeySource) -> Result<Self, KeyringError> {
        let current = match &source.key {
            Some(text) => SecretKey::from_base64(text).map_err(|message| KeyringError::new("secrets.key", message))?,
            None => load_or_create_key_file(&source.key_file)?,
        };
        let previous = source
            .previous_keys
            .iter()
            .enumerate()
            .map(|(index, text)| {
                SecretKey::from_base64(text)
                    .map_err(|message| KeyringError::new(format!("secrets.previous_keys[{index}]"), message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(current, previous))
    }

    pub fn current_id(&self) -> &KeyId {
        &self.current.0
    }

    /// The ids of the keys that only open (for diagnostics).
    pub fn previous_ids(&self) -> Vec<KeyId> {
        self.previous.iter().map(|(id, _)| id.clone()).collect()
    }

    fn key(&self, id: &str) -> Option<&SecretKey> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|(key_id, _)| key_id.as_str() == id)
            .map(|(_, key)| key)
    }

    /// Seals `plaintext` under the current key with a fresh random nonce; `aad`
    /// binds the ciphertext to where it is stored.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, ServiceError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|error| ServiceError::Internal(format!("getrandom: {error}")))?;
        let (key_id, key) = &self.current;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key.0));
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| ServiceError::Internal("sealing a secret failed".into()))?;
        Ok(Sealed { key_id: key_id.clone(), nonce: nonce.to_vec(), ciphertext })
    }

    /// Opens a sealed value with the key it names.
    pub(crate) fn open(
        &self,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, OpenError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let key = self.key(key_id).ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))?;
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| OpenError::Forged)?;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key.0));
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad })
            .map(zeroize::Zeroizing::new)
            .map_err(|_| OpenError::Forged)
    }
}

/// Reads the key file, or creates it with a fresh key when it does not exist.
fn load_or_create_key_file(path: &std::path::Path) -> Result<SecretKey, KeyringError> {
    const KEY: &str = "secrets.key_file";
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(metadata) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = metadata.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(KeyringError::new(
                        KEY,
                        format!(
                            "{shown} has mode {mode:04o}; the key must be readable by its owner only (chmod 600 {shown})"
                        ),
                    ));
                }
            }
            if !metadata.is_file() {
                return Err(KeyringError::new(KEY, format!("{shown} is not a file")));
            }
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(path).map_err(|error| KeyringError::new(KEY, format!("cannot read {shown}: {error}")))?,
            );
            // 32 raw bytes as written here, or the key in base64 as in `secrets.key`.
            if let Some(key) = SecretKey::from_slice(&bytes) {
                return Ok(key);
            }
            std::str::from_utf8(&bytes).ok().and_then(|text| SecretKey::from_base64(text).ok()).ok_or_else(|| {
                KeyringError::new(
                    KEY,
                    format!(
                        "{shown} holds {} bytes; a key file holds {KEY_BYTES} bytes (or their base64)",
                        bytes.len()
                    ),
                )
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
        Err(error) => Err(KeyringError::new(KEY, format!("cannot read {shown}: {error}"))),
    }
}

/// Creates the key file atomically: a complete temporary file is linked into
/// place, so a concurrent reader never sees a half-written key, and of two
/// processes starting at once one key wins and both use it.
fn create_key_file(path: &std::path::Path) -> Result<SecretKey, KeyringError> {
    use std::io::Write;
    const KEY: &str = "secrets.key_file";
    let shown = path.display();
    let failed = |error: std::io::Error| KeyringError::new(KEY, format!("cannot create {shown}: {error}"));
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let key = SecretKey::generate().map_err(|error| KeyringError::new(KEY, error.to_string()))?;
    let suffix = random_token(9).map_err(|error| KeyringError::new(KEY, error.to_string()))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{suffix}.tmp"));
    let temporary = std::path::PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(key.0.as_ref())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %shown, key_id = %key.id(), "created a new secrets key; back it up, secrets cannot be read without it");
            Ok(key)
        }
        // Another process made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key_file(path),
        Err(error) => Err(failed(error)),
    }
}
