//! Random tokens, their hashes, and password hashing with Argon2id.

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
