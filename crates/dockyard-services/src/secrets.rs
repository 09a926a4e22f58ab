//! Secrets encrypted at rest. Each value is sealed with XChaCha20-Poly1305
//! under the keyring's current key, with a fresh random 24-byte nonce per
//! write; the associated data binds the ciphertext to its row (secret id, org,
//! project, name), so a sealed value copied to another row does not open. Each
//! row names the key that sealed it, so keys can rotate: old keys stay in
//! `secrets.previous_keys` until `dockyard secrets rotate` has re-sealed every row.
//!
//! Plaintext lives in memory only (wiped on drop) and never reaches logs, errors
//! or `Debug` output. These are internal use cases (deploys and agents read
//! secrets to start containers); the HTTP API, when it comes, authorizes with
//! `ManageSecrets` before calling them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use dockyard_domain::validate::ValidationError;
use dockyard_domain::{OrgId, Project, ProjectId, SecretId};
use dockyard_store::StoredSecret;
use zeroize::Zeroizing;

use crate::crypto::OpenError;
use crate::{ServiceError, Services};

/// Where a secret lives: the whole org, or one of its projects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretScope {
    Org(OrgId),
    Project(OrgId, ProjectId),
}

impl SecretScope {
    /// The scope of a project's own secrets.
    pub fn of_project(project: &Project) -> Self {
        SecretScope::Project(project.org_id.clone(), project.id.clone())
    }

    fn org(&self) -> &OrgId {
        match self {
            SecretScope::Org(org) | SecretScope::Project(org, _) => org,
        }
    }

    fn project(&self) -> Option<&ProjectId> {
        match self {
            SecretScope::Org(_) => None,
            SecretScope::Project(_, project) => Some(project),
        }
    }
}

impl std::fmt::Display for SecretScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretScope::Org(org) => write!(f, "org {org}"),
            SecretScope::Project(_, project) => write!(f, "project {project}"),
        }
    }
}

/// What `dockyard secrets rotate` did.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    /// Re-sealed under the current key.
    pub resealed: u64,
    /// Already under the current key.
    pub current: u64,
    /// Changed by someone else while rotating (and so sealed under the current key already).
    pub raced: u64,
    /// Sealed under a key the keyring lacks: left as they are. (id, scope, name, key id)
    pub unknown_key: Vec<(SecretId, String, String, String)>,
    /// Did not authenticate under the key they name: left as they are. (id, scope, name)
    pub undecryptable: Vec<(SecretId, String, String)>,
}

/// Names are environment-variable-like: a letter or `_`, then letters, digits and `_`.
fn validate_name(name: &str) -> Result<(), ServiceError> {
    let mut chars = name.chars();
    let valid = name.len() <= 128
        && chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            "invalid_secret_name",
            "a secret name is 1-128 letters, digits and underscores, not starting with a digit",
        )
        .into())
    }
}

/// The associated data of a sealed value: the row it belongs to.
fn aad(id: &SecretId, org: &OrgId, project: Option<&ProjectId>, name: &str) -> Vec<u8> {
    format!("dockyard-secret-v1|{id}|{org}|{}|{name}", project.map(ProjectId::as_str).unwrap_or("-")).into_bytes()
}

fn row_aad(row: &StoredSecret) -> Vec<u8> {
    aad(&row.id, &row.org_id, row.project_id.as_ref(), &row.name)
}

fn describe(row: &StoredSecret) -> String {
    match &row.project_id {
        Some(project) => format!("project {project}"),
        None => format!("org {}", row.org_id),
    }
}

fn decode(row: &StoredSecret) -> Option<(Vec<u8>, Vec<u8>)> {
    Some((STANDARD.decode(&row.nonce).ok()?, STANDARD.decode(&row.ciphertext).ok()?))
}

impl Services {
    /// Stores (or replaces) the secret `name` in `scope`.
    pub async fn put_secret(&self, scope: &SecretScope, name: &str, plaintext: &[u8]) -> Result<(), ServiceError> {
        validate_name(name)?;
        // The row id is part of the associated data, so it is fixed before sealing:
        // the existing row's, or a new one. A concurrent first write under another id
        // makes the upsert refuse, and the value is sealed again for that id.
        for _ in 0..3 {
            let existing = self.store().find_secret(scope.org(), scope.project(), name).await?;
            let id = existing.as_ref().map(|row| row.id.clone()).unwrap_or_default();
            let sealed = self.inner.keyring.seal(&aad(&id, scope.org(), scope.project(), name), plaintext)?;
            let now = Utc::now();
            let row = StoredSecret {
                id,
                org_id: scope.org().clone(),
                project_id: scope.project().cloned(),
                name: name.to_owned(),
                key_id: sealed.key_id.as_str().to_owned(),
                nonce: STANDARD.encode(&sealed.nonce),
                ciphertext: STANDARD.encode(&sealed.ciphertext),
                created_at: now,
                updated_at: now,
            };
            if self.store().upsert_secret(&row).await? {
                return Ok(());
            }
        }
        Err(ServiceError::conflict("secret_busy", format!("the secret {name} is being changed; try again")))
    }

    /// The plaintext of the secret `name` in `scope`, if there is one. Opening
    /// fails with an internal error naming the key (never the value) when the
    /// keyring lacks the row's key or the row does not authenticate.
    pub async fn get_secret(
        &self,
        scope: &SecretScope,
        name: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceError> {
        validate_name(name)?;
        let Some(row) = self.store().find_secret(scope.org(), scope.project(), name).await? else {
            return Ok(None);
        };
        let (nonce, ciphertext) = decode(&row).ok_or_else(|| {
            ServiceError::Internal(format!("secret {name} of {scope}: the stored value is not base64"))
        })?;
        self.inner
            .keyring
            .open(&row.key_id, &nonce, &ciphertext, &row_aad(&row))
            .map(Some)
            .map_err(|error| ServiceError::Internal(format!("secret {name} of {scope} cannot be opened: {error}")))
    }

    /// Deletes the secret `name` in `scope`; answers whether it existed.
    pub async fn delete_secret(&self, scope: &SecretScope, name: &str) -> Result<bool, ServiceError> {
        validate_name(name)?;
        Ok(self.store().delete_secret(scope.org(), scope.project(), name).await?)
    }

    /// The names of the secrets in `scope`, sorted.
    pub async fn list_secret_names(&self, scope: &SecretScope) -> Result<Vec<String>, ServiceError> {
        Ok(self.store().list_secret_names(scope.org(), scope.project()).await?)
    }

    /// Re-seals every secret that is not under the current key yet. Rows under
    /// a key the keyring lacks, or that do not authenticate, are reported and left
    /// as they are; nothing is ever deleted.
    pub async fn rotate_secrets(&self) -> Result<RotationReport, ServiceError> {
        let keyring = &self.inner.keyring;
        let current = keyring.current_id().as_str().to_owned();
        let mut report = RotationReport::default();
        let mut after: Option<SecretId> = None;
        loop {
            let page = self.store().secrets_after(after.as_ref(), 200).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for row in page {
                if row.key_id == current {
                    report.current += 1;
                    continue;
                }
                let opened = match decode(&row) {
                    Some((nonce, ciphertext)) => keyring.open(&row.key_id, &nonce, &ciphertext, &row_aad(&row)),
                    None => Err(OpenError::Forged),
                };
                let plaintext = match opened {
                    Ok(plaintext) => plaintext,
                    Err(OpenError::UnknownKey(key)) => {
                        report.unknown_key.push((row.id.clone(), describe(&row), row.name.clone(), key));
                        continue;
                    }
                    Err(OpenError::Forged) => {
                        report.undecryptable.push((row.id.clone(), describe(&row), row.name.clone()));
                        continue;
                    }
                };
                let sealed = keyring.seal(&row_aad(&row), &plaintext)?;
                let swapped = self
                    .store()
                    .reseal_secret(
                        &row.id,
                        &row.nonce,
                        sealed.key_id.as_str(),
                        &STANDARD.encode(&sealed.nonce),
                        &STANDARD.encode(&sealed.ciphertext),
                    )
                    .await?;
                if swapped {
                    report.resealed += 1;
                } else {
                    report.raced += 1;
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeySource, Keyring, SecretKey};
    use crate::testing::{Fixture, fixture};

    const PLAINTEXT: &[u8] = b"postgres://app:correct-horse-battery@db/app";

    async fn scoped(fixture: &Fixture) -> (SecretScope, SecretScope) {
        let store = fixture.services.store();
        let user = store.create_user("o@example.com", "O", "hash", false).await.expect("user");
        let org = store.create_org("acme", "Acme", &user.id).await.expect("org");
        let project = store.create_project(&org.id, "web", "Web", "", &user.id).await.expect("project");
        (SecretScope::Org(org.id.clone()), SecretScope::of_project(&project))
    }

    fn with_keyring(fixture: &Fixture, keyring: Keyring) -> Services {
        Services::with_infrastructure(
            fixture.services.store().clone(),
            crate::ServiceConfig::default(),
            std::sync::Arc::new(crate::bus::InProcessBus::new()),
            keyring,
        )
    }

    #[tokio::test]
    async fn a_secret_round_trips_and_is_stored_only_sealed() {
        let fixture = fixture().await;
        let services = &fixture.services;
        let (org, project) = scoped(&fixture).await;
        services.put_secret(&project, "DATABASE_URL", PLAINTEXT).await.expect("put");
        services.put_secret(&org, "DATABASE_URL", b"org-wide").await.expect("put");
        assert_eq!(
            services.get_secret(&project, "DATABASE_URL").await.expect("get").as_deref().map(Vec::as_slice),
            Some(PLAINTEXT)
        );
        assert_eq!(
            services.get_secret(&org, "DATABASE_URL").await.expect("get").as_deref().map(Vec::as_slice),
            Some(&b"org-wide"[..])
        );
        assert!(services.get_secret(&project, "MISSING").await.expect("get").is_none());

        // Nothing in the stored row shows the plaintext, in any encoding.
        let rows = services.store().secrets_after(None, 10).await.expect("rows");
        assert_eq!(rows.len(), 2);
        for row in &rows {
            let stored = format!("{} {} {} {}", row.name, row.key_id, row.nonce, row.ciphertext);
            let decoded = STANDARD.decode(&row.ciphertext).expect("base64");
            assert!(!stored.contains("correct-horse") && !stored.contains(&STANDARD.encode(PLAINTEXT)), "{stored}");
            assert!(!decoded.windows(PLAINTEXT.len()).any(|window| window == PLAINTEXT));
            assert_eq!(decoded.len(), row_plaintext_len(row) + 16, "ciphertext = plaintext + tag");
            assert_eq!(STANDARD.decode(&row.nonce).expect("nonce").len(), 24);
            assert_eq!(row.key_id, services.inner.keyring.current_id().as_str());
            assert!(!format!("{row:?}").contains(&row.ciphertext), "Debug hides the sealed value");
        }

        // Each write draws a new nonce; the id stays.
        let before = services.store().find_secret(project.org(), project.project(), "DATABASE_URL").await;
        services.put_secret(&project, "DATABASE_URL", PLAINTEXT).await.expect("put again");
        let after = services.store().find_secret(project.org(), project.project(), "DATABASE_URL").await;
        let (before, after) = (before.expect("read").expect("row"), after.expect("read").expect("row"));
        assert_eq!(before.id, after.id);
        assert_ne!((before.nonce, before.ciphertext), (after.nonce, after.ciphertext));

        assert_eq!(services.list_secret_names(&project).await.expect("names"), ["DATABASE_URL"]);
        assert!(services.delete_secret(&project, "DATABASE_URL").await.expect("delete"));
        assert!(services.get_secret(&project, "DATABASE_URL").await.expect("get").is_none());
        let invalid = services.put_secret(&project, "not a name", b"x").await;
        assert!(matches!(invalid, Err(ServiceError::Invalid(ref error)) if error.code == "invalid_secret_name"));
    }

    fn row_plaintext_len(row: &StoredSecret) -> usize {
        if row.project_id.is_some() { PLAINTEXT.len() } else { b"org-wide".len() }
    }

    #[tokio::test]
    async fn a_sealed_value_moved_to_another_name_or_scope_does_not_open() {
        let fixture = fixture().await;
        let services = &fixture.services;
        let (org, project) = scoped(&fixture).await;
        services.put_secret(&project, "API_KEY", PLAINTEXT).await.expect("put");
        services.put_secret(&project, "OTHER", b"other").await.expect("put");
        let sealed = services.store().find_secret(project.org(), project.project(), "API_KEY").await;
        let sealed = sealed.expect("read").expect("row");
        // Copy the sealed value over another secret of the project, and into the org scope.
        let other = services.store().find_secret(project.org(), project.project(), "OTHER").await;
        let other = other.expect("read").expect("row");
        let moved = StoredSecret { nonce: sealed.nonce.clone(), ciphertext: sealed.ciphertext.clone(), ..other };
        assert!(services.store().upsert_secret(&moved).await.expect("tamper"));
        let error = services.get_secret(&project, "OTHER").await.expect_err("does not open");
        assert!(error.to_string().contains("does not authenticate"), "{error}");
        let copied = StoredSecret { id: sealed.id.clone(), project_id: None, ..sealed.clone() };
        fixture.execute(&format!("DELETE FROM secrets WHERE id = '{}'", sealed.id)).await;
        assert!(services.store().upsert_secret(&copied).await.expect("tamper"));
        let error = services.get_secret(&org, "API_KEY").await.expect_err("does not open");
        assert!(error.to_string().contains("does not authenticate"), "{error}");
        assert!(!error.to_string().contains("correct-horse"));
    }

    #[tokio::test]
    async fn rotation_reseals_under_the_current_key_and_reports_unknown_keys() {
        let fixture = fixture().await;
        let (_, project) = scoped(&fixture).await;
        let (old, new, lost) = (
            SecretKey::generate().expect("key"),
            SecretKey::generate().expect("key"),
            SecretKey::generate().expect("key"),
        );
        let before = with_keyring(&fixture, Keyring::new(old.clone(), Vec::new()));
        before.put_secret(&project, "A", b"alpha").await.expect("put");
        before.put_secret(&project, "B", b"bravo").await.expect("put");
        with_keyring(&fixture, Keyring::new(lost.clone(), Vec::new()))
            .put_secret(&project, "LOST", b"lost")
            .await
            .expect("put");

        // Without the old key, the new keyring cannot open old rows: a clear error, no panic.
        let without_old = with_keyring(&fixture, Keyring::new(new.clone(), Vec::new()));
        let error = without_old.get_secret(&project, "A").await.expect_err("unknown key");
        assert!(
            error.to_string().contains(old.id().as_str()) && error.to_string().contains("previous_keys"),
            "{error}"
        );

        let rotating = with_keyring(&fixture, Keyring::new(new.clone(), vec![old.clone()]));
        assert_eq!(
            rotating.get_secret(&project, "A").await.expect("get").as_deref().map(Vec::as_slice),
            Some(&b"alpha"[..])
        );
        rotating.put_secret(&project, "C", b"charlie").await.expect("put under the new key");
        let report = rotating.rotate_secrets().await.expect("rotate");
        assert_eq!((report.resealed, report.current, report.raced), (2, 1, 0));
        assert!(report.undecryptable.is_empty());
        assert_eq!(report.unknown_key.len(), 1);
        assert_eq!((report.unknown_key[0].2.as_str(), report.unknown_key[0].3.as_str()), ("LOST", lost.id().as_str()));

        // Now the new key alone opens A, B and C; LOST was left untouched.
        for (name, value) in [("A", &b"alpha"[..]), ("B", b"bravo"), ("C", b"charlie")] {
            assert_eq!(
                without_old.get_secret(&project, name).await.expect("get").as_deref().map(Vec::as_slice),
                Some(value)
            );
        }
        let lost_row = rotating.store().find_secret(project.org(), project.project(), "LOST").await;
        assert_eq!(lost_row.expect("read").expect("still there").key_id, lost.id().as_str());
        let again = rotating.rotate_secrets().await.expect("rotate again");
        assert_eq!((again.resealed, again.current, again.unknown_key.len()), (0, 3, 1));
    }

    #[tokio::test]
    async fn a_wrong_key_under_a_known_id_is_an_error_not_a_panic() {
        let fixture = fixture().await;
        let (_, project) = scoped(&fixture).await;
        fixture.services.put_secret(&project, "TOKEN", b"value").await.expect("put");
        let current = fixture.services.inner.keyring.current_id().as_str().to_owned();
        // Claim that another key sealed it: the id now names a key that does not open it.
        let other = SecretKey::generate().expect("key");
        fixture.execute(&format!("UPDATE secrets SET key_id = '{}'", other.id())).await;
        let wrong = with_keyring(&fixture, Keyring::new(other, Vec::new()));
        let error = wrong.get_secret(&project, "TOKEN").await.expect_err("wrong key");
        assert!(matches!(error, ServiceError::Internal(_)));
        assert!(error.to_string().contains("does not authenticate"), "{error}");
        fixture.execute(&format!("UPDATE secrets SET key_id = '{current}'")).await;
        assert!(fixture.services.get_secret(&project, "TOKEN").await.expect("get").is_some());
    }

    #[cfg(unix)]
    #[test]
    fn keys_come_from_config_or_a_key_file_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dockyard-keys-{}", SecretId::new()));
        let key_file = dir.join("nested").join("secret.key");
        let source = |key: Option<&str>, previous: &[&str]| KeySource {
            key: key.map(str::to_owned),
            previous_keys: previous.iter().map(|key| (*key).to_owned()).collect(),
            key_file: key_file.clone(),
        };

        let created = Keyring::load(&source(None, &[])).expect("created");
        let mode = std::fs::metadata(&key_file).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&key_file).expect("read").len(), 32);
        let reloaded = Keyring::load(&source(None, &[])).expect("reloaded");
        assert_eq!(reloaded.current_id(), created.current_id(), "the file's key is reused");
        assert_eq!(created.current_id().as_str().len(), 16);

        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = Keyring::load(&source(None, &[])).expect_err("too open");
        assert_eq!(error.key, "secrets.key_file");
        assert!(error.message.contains("0644") && error.message.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(&key_file, b"too short").expect("write");
        let error = Keyring::load(&source(None, &[])).expect_err("wrong length");
        assert!(error.to_string().starts_with("secrets.key_file:") && error.message.contains("9 bytes"), "{error}");

        // An explicit key wins over the file; previous keys are named by position when bad.
        let key = SecretKey::generate().expect("key");
        let previous = SecretKey::generate().expect("key");
        let explicit = Keyring::load(&source(Some(&key.to_base64()), &[&previous.to_base64()])).expect("explicit");
        assert_eq!(explicit.current_id(), &key.id());
        assert_eq!(explicit.previous_ids(), [previous.id()]);
        let error = Keyring::load(&source(Some("c2hvcnQ="), &[])).expect_err("short key");
        assert_eq!(error.key, "secrets.key");
        let error = Keyring::load(&source(Some(&key.to_base64()), &["not base64!"])).expect_err("bad previous");
        assert_eq!(error.key, "secrets.previous_keys[0]");
        let shown = format!("{explicit:?} {:?} {key:?}", source(Some(&key.to_base64()), &[]));
        assert!(!shown.contains(key.to_base64().as_str()), "Debug never shows a key: {shown}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
