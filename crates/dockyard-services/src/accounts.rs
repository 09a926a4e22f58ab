//! Accounts: first-run setup, users, password login, sessions and API tokens.

use std::time::Duration;

use chrono::Utc;
use dockyard_domain::validate::{Email, Name, Password, Slug, ValidationError};
use dockyard_domain::{
    Action, Actor, ApiToken, Org, Resource, Scope, Session, SessionId, TokenId, User, UserId, authorize,
};
use dockyard_store::{NewApiToken, UserWithPassword};

use crate::audit::AuditEntry;
use crate::crypto::{hash_password, random_token, token_hash, verify_password};
use crate::{RequestContext, ServiceError, Services};

/// Every API token starts with this, so scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "dyt_";
/// Bytes of entropy in session cookies and API tokens.
pub const SESSION_TOKEN_BYTES: usize = 32;
const SETUP_TOKEN_KEY: &str = "setup_token_hash";
/// Activity is written back at most this often per session or token, to keep reads cheap.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The caller, resolved from a session cookie or a bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub user: User,
    pub session_id: Option<SessionId>,
    pub token_id: Option<TokenId>,
}

/// A fresh session: the cookie value is only ever in this struct.
#[derive(Debug)]
pub struct NewSession {
    pub session: Session,
    pub cookie_value: String,
}

/// A fresh API token: the secret is shown once and never again.
#[derive(Debug)]
pub struct NewToken {
    pub token: ApiToken,
    pub secret: String,
}

impl Services {
    /// On an empty instance, makes a new one-time setup token (replacing any
    /// earlier one) and returns it for printing. Returns `None` once a user exists.
    pub async fn prepare_setup_token(&self) -> Result<Option<String>, ServiceError> {
        let store = self.store();
        if store.count_users().await? > 0 {
            store.delete_setting(SETUP_TOKEN_KEY).await?;
            return Ok(None);
        }
        let token = random_token(24)?;
        store.set_setting(SETUP_TOKEN_KEY, &token_hash(&token)).await?;
        Ok(Some(token))
    }

    /// Whether the instance still waits for its first user.
    pub async fn needs_setup(&self) -> Result<bool, ServiceError> {
        Ok(self.store().count_users().await? == 0)
    }

    /// Creates the first instance admin with the setup token, a default org they
    /// own, and a session for them.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<(User, Org, NewSession), ServiceError> {
        let store = self.store();
        let email = Email::parse(email)?;
        let name = Name::parse("name", name)?;
        let password = Password::parse(password, Some(&email))?;
        if store.count_users().await? > 0 {
            return Err(ServiceError::conflict("already_set_up", "this instance is already set up"));
        }
        let expected = store.get_setting(SETUP_TOKEN_KEY).await?;
        if expected.as_deref() != Some(token_hash(token).as_str()) {
            return Err(ServiceError::forbidden("invalid_setup_token", "the setup token is wrong or was already used"));
        }
        // Consuming the token is the atomic step: of two racing requests, one wins.
        if !store.delete_setting(SETUP_TOKEN_KEY).await? {
            return Err(ServiceError::forbidden("invalid_setup_token", "the setup token is wrong or was already used"));
        }
        let user = self.create_user(email.as_str(), name.as_str(), password.expose(), true, context).await?;
        let org = store.create_org("default", "Default", &user.id).await?;
        self.audit(AuditEntry::new("org.created", context).by(&user.id).org(&org.id).target("org", org.id.as_str()))
            .await;
        let session = self.start_session(&user, context).await?;
        Ok((user, org, session))
    }

    /// Creates a user (the shell's `dockyard user create`, setup, and instance admins).
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password: &str,
        instance_admin: bool,
        context: &RequestContext,
    ) -> Result<User, ServiceError> {
        let email = Email::parse(email)?;
        let name = Name::parse("name", name)?;
        let password = Password::parse(password, Some(&email))?;
        let hash = hash_password(password.expose().to_owned()).await?;
        let user =
            self.store().create_user(email.as_str(), name.as_str(), &hash, instance_admin).await.map_err(|error| {
                match ServiceError::from(error) {
                    ServiceError::Conflict { .. } => {
                        ServiceError::conflict("email_taken", "a user with this e-mail address exists")
                    }
                    other => other,
                }
            })?;
        // Once any user exists, the setup token is worthless.
        self.store().delete_setting(SETUP_TOKEN_KEY).await?;
        self.audit(
            AuditEntry::new("user.created", context)
                .label(user.email.clone())
                .target("user", user.id.as_str())
                .detail(serde_json::json!({ "instance_admin": instance_admin })),
        )
        .await;
        Ok(user)
    }

    /// Creates a user on an instance admin's behalf.
    pub async fn create_user_as(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        password: &str,
        instance_admin: bool,
        context: &RequestContext,
    ) -> Result<User, ServiceError> {
        let _grant = authorize(actor, Action::ManageUsers, Resource::Instance)?;
        let user = self.create_user(email, name, password, instance_admin, context).await?;
        Ok(user)
    }

    /// Password login. Failures are throttled per account and per IP, and the
    /// answer never says whether the account exists.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<(User, NewSession), ServiceError> {
        let normalized = email.trim().to_lowercase();
        let account_key = format!("account:{normalized}");
        let ip_key = format!("ip:{}", context.ip.as_deref().unwrap_or("unknown"));
        // Each attempt is counted before the slow password check (see FailureThrottle::attempt).
        let throttled = match self.inner.account_failures.attempt(&account_key) {
            Err(retry_after) => Some(retry_after),
            Ok(()) => self
                .inner
                .ip_failures
                .attempt(&ip_key)
                .err()
                .inspect(|_| self.inner.account_failures.forgive(&account_key)),
        };
        if let Some(retry_after) = throttled {
            self.audit(AuditEntry::new("auth.login_throttled", context).label(normalized)).await;
            return Err(ServiceError::RateLimited { retry_after });
        }
        let checked = self.check_credentials(&normalized, password).await;
        let found = match checked {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.audit(AuditEntry::new("auth.login_failed", context).label(normalized)).await;
                return Err(ServiceError::InvalidCredentials);
            }
            Err(error) => {
                // Our failure, not the caller's: do not count it against them.
                self.inner.account_failures.forgive(&account_key);
                self.inner.ip_failures.forgive(&ip_key);
                return Err(error);
            }
        };
        self.inner.account_failures.reset(&account_key);
        self.inner.ip_failures.forgive(&ip_key);
        let session = self.start_session(&found.user, context).await?;
        self.audit(
            AuditEntry::new("auth.login", context).by(&found.user.id).target("session", session.session.id.as_str()),
        )
        .await;
        Ok((found.user, session))
    }

    /// The user whose e-mail and password these are, or `None`. Unknown accounts
    /// cost one Argon2 verification too, so timing does not reveal them.
    async fn check_credentials(&self, email: &str, password: &str) -> Result<Option<UserWithPassword>, ServiceError> {
        let found = match Email::parse(email) {
            Ok(email) => self.store().find_user_by_email(email.as_str()).await?,
            Err(_) => None,
        };
        let verified = match found.as_ref().and_then(|found| found.password_hash.clone()) {
            Some(hash) => verify_password(password.to_owned(), hash).await?,
            None => {
                let dummy = self.dummy_hash().await?;
                let _ = verify_password(password.to_owned(), dummy).await?;
                false
            }
        };
        Ok(found.filter(|_| verified))
    }

    async fn dummy_hash(&self) -> Result<String, ServiceError> {
        self.inner.dummy_hash.get_or_try_init(|| async { hash_password(random_token(16)?).await }).await.cloned()
    }

    async fn start_session(&self, user: &User, context: &RequestContext) -> Result<NewSession, ServiceError> {
        let cookie_value = random_token(SESSION_TOKEN_BYTES)?;
        let expires_at = Utc::now() + self.inner.config.session_ttl;
        let session = self
            .store()
            .create_session(
                &user.id,
                &token_hash(&cookie_value),
                context.user_agent.as_deref(),
                context.ip.as_deref(),
                expires_at,
            )
            .await?;
        Ok(NewSession { session, cookie_value })
    }

    /// Resolves a session cookie; `None` when it is unknown or expired.
    pub async fn authenticate_session(&self, cookie_value: &str) -> Result<Option<Authenticated>, ServiceError> {
        let now = Utc::now();
        let Some((session, user)) = self.store().resolve_session(&token_hash(cookie_value), now).await? else {
            return Ok(None);
        };
        if (now - session.last_seen_at).to_std().unwrap_or_default() > TOUCH_INTERVAL {
            self.store().touch_session(&session.id, now, now + self.inner.config.session_ttl).await?;
        }
        Ok(Some(Authenticated {
            actor: Actor { user_id: user.id.clone(), instance_admin: user.instance_admin, scope: None },
            user,
            session_id: Some(session.id),
            token_id: None,
        }))
    }

    /// Resolves a bearer API token; `None` when it is unknown, revoked or expired.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<Authenticated>, ServiceError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let now = Utc::now();
        let Some((token, user)) = self.store().resolve_token(&token_hash(secret), now).await? else {
            return Ok(None);
        };
        let stale = token.last_used_at.is_none_or(|last| (now - last).to_std().unwrap_or_default() > TOUCH_INTERVAL);
        if stale {
            self.store().touch_token(&token.id, now).await?;
        }
        Ok(Some(Authenticated {
            actor: Actor { user_id: user.id.clone(), instance_admin: user.instance_admin, scope: Some(token.scope) },
            user,
            session_id: None,
            token_id: Some(token.id),
        }))
    }

    /// Ends the caller's own session.
    pub async fn logout(&self, caller: &Authenticated, context: &RequestContext) -> Result<(), ServiceError> {
        if let Some(session_id) = &caller.session_id {
            self.store().delete_session(&caller.user.id, session_id).await?;
            self.audit(
                AuditEntry::new("auth.logout", context).by(&caller.user.id).target("session", session_id.as_str()),
            )
            .await;
        }
        Ok(())
    }

    pub async fn get_self(&self, actor: &Actor) -> Result<User, ServiceError> {
        let _grant = authorize(actor, Action::ReadSelf, Resource::User(&actor.user_id))?;
        Ok(self.store().get_user(&actor.user_id).await?)
    }

    pub async fn update_self(&self, actor: &Actor, name: &str) -> Result<User, ServiceError> {
        let _grant = authorize(actor, Action::UpdateSelf, Resource::User(&actor.user_id))?;
        let name = Name::parse("name", name)?;
        Ok(self.store().update_user_name(&actor.user_id, name.as_str()).await?)
    }

    pub async fn list_sessions(&self, actor: &Actor) -> Result<Vec<Session>, ServiceError> {
        let _grant = authorize(actor, Action::ManageOwnSessions, Resource::User(&actor.user_id))?;
        Ok(self.store().list_sessions(&actor.user_id, Utc::now()).await?)
    }

    pub async fn revoke_session(
        &self,
        actor: &Actor,
        id: &SessionId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let _grant = authorize(actor, Action::ManageOwnSessions, Resource::User(&actor.user_id))?;
        self.store().delete_session(&actor.user_id, id).await?;
        self.audit(AuditEntry::new("auth.session_revoked", context).by(&actor.user_id).target("session", id.as_str()))
            .await;
        Ok(())
    }

    /// Changes the caller's password after checking the current one, and revokes
    /// every other session (the caller's own session stays).
    pub async fn change_password(
        &self,
        caller: &Authenticated,
        current: &str,
        new: &str,
        context: &RequestContext,
    ) -> Result<u64, ServiceError> {
        let _grant = authorize(&caller.actor, Action::ChangeOwnPassword, Resource::User(&caller.user.id))?;
        let email = Email::parse(&caller.user.email)?;
        let new = Password::parse(new, Some(&email))?;
        // Guessing the current password here counts against the same per-account limit as login.
        let account_key = format!("account:{}", email.as_str());
        self.inner
            .account_failures
            .attempt(&account_key)
            .map_err(|retry_after| ServiceError::RateLimited { retry_after })?;
        let stored = self.store().password_hash(&caller.user.id).await?.unwrap_or_default();
        if !verify_password(current.to_owned(), stored).await? {
            return Err(ServiceError::Invalid(ValidationError::new(
                "current_password",
                "wrong_password",
                "the current password is not correct",
            )));
        }
        self.inner.account_failures.reset(&account_key);
        let hash = hash_password(new.expose().to_owned()).await?;
        let revoked = self.store().set_password_hash(&caller.user.id, &hash, caller.session_id.as_ref()).await?;
        self.audit(
            AuditEntry::new("user.password_changed", context)
                .by(&caller.user.id)
                .target("user", caller.user.id.as_str())
                .detail(serde_json::json!({ "sessions_revoked": revoked })),
        )
        .await;
        Ok(revoked)
    }

    /// Sets a new password from the shell (`dockyard user reset-password`) and
    /// revokes every session of the user.
    pub async fn reset_password(&self, email: &str, new: &str, context: &RequestContext) -> Result<u64, ServiceError> {
        let email = Email::parse(email)?;
        let new = Password::parse(new, Some(&email))?;
        let found = self.store().find_user_by_email(email.as_str()).await?.ok_or(ServiceError::NotFound)?;
        let hash = hash_password(new.expose().to_owned()).await?;
        let revoked = self.store().set_password_hash(&found.user.id, &hash, None).await?;
        self.audit(AuditEntry::new("user.password_reset", context).target("user", found.user.id.as_str())).await;
        Ok(revoked)
    }

    pub async fn list_users(&self, actor: Option<&Actor>) -> Result<Vec<User>, ServiceError> {
        if let Some(actor) = actor {
            let _grant = authorize(actor, Action::ManageUsers, Resource::Instance)?;
        }
        Ok(self.store().list_users().await?)
    }

    pub async fn find_user(&self, email: &str) -> Result<User, ServiceError> {
        let email = Email::parse(email)?;
        Ok(self.store().find_user_by_email(email.as_str()).await?.ok_or(ServiceError::NotFound)?.user)
    }

    /// Grants or takes away the instance-admin flag. `actor` is `None` for the shell,
    /// which has the machine's own authority.
    pub async fn set_instance_admin(
        &self,
        actor: Option<&Actor>,
        user: &UserId,
        instance_admin: bool,
        context: &RequestContext,
    ) -> Result<User, ServiceError> {
        if let Some(actor) = actor {
            let _grant = authorize(actor, Action::ManageUsers, Resource::Instance)?;
        }
        let updated = self.store().set_instance_admin(user, instance_admin).await?;
        self.audit(
            AuditEntry::new("user.instance_admin_changed", context)
                .by_opt(actor.map(|actor| &actor.user_id))
                .target("user", user.as_str())
                .detail(serde_json::json!({ "instance_admin": instance_admin })),
        )
        .await;
        Ok(updated)
    }

    /// Creates an API token for `user`. The secret is in the answer and nowhere else.
    pub async fn create_token(
        &self,
        actor: Option<&Actor>,
        user: &UserId,
        name: &str,
        scope: Scope,
        expires_in_days: Option<u32>,
        context: &RequestContext,
    ) -> Result<NewToken, ServiceError> {
        if let Some(actor) = actor {
            // `ManageOwnTokens` needs the `admin` scope, the broadest, so no token can
            // ever mint a token broader than itself.
            let _grant = authorize(actor, Action::ManageOwnTokens, Resource::User(user))?;
        }
        let name = Name::parse("name", name)?;
        let expires_at = match expires_in_days {
            Some(0) => {
                return Err(
                    ValidationError::new("expires_in_days", "out_of_range", "must be between 1 and 3650").into()
                );
            }
            Some(days) if days > 3650 => {
                return Err(
                    ValidationError::new("expires_in_days", "out_of_range", "must be between 1 and 3650").into()
                );
            }
            Some(days) => Some(Utc::now() + chrono::Duration::days(i64::from(days))),
            None => None,
        };
        let secret = format!("{TOKEN_PREFIX}{}", random_token(SESSION_TOKEN_BYTES)?);
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let token = self
            .store()
            .create_token(NewApiToken {
                user,
                name: name.as_str(),
                token_hash: &token_hash(&secret),
                prefix: &prefix,
                scope,
                expires_at,
            })
            .await?;
        self.audit(
            AuditEntry::new("token.created", context)
                .by(user)
                .target("token", token.id.as_str())
                .detail(serde_json::json!({ "name": token.name, "scope": scope.as_str() })),
        )
        .await;
        Ok(NewToken { token, secret })
    }

    pub async fn list_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
        let _grant = authorize(actor, Action::ManageOwnTokens, Resource::User(&actor.user_id))?;
        Ok(self.store().list_tokens(&actor.user_id).await?)
    }

    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: &TokenId,
        context: &RequestContext,
    ) -> Result<(), ServiceError> {
        let _grant = authorize(actor, Action::ManageOwnTokens, Resource::User(&actor.user_id))?;
        let token = self.store().revoke_token(&actor.user_id, id).await?;
        self.audit(
            AuditEntry::new("token.revoked", context)
                .by(&actor.user_id)
                .target("token", id.as_str())
                .detail(serde_json::json!({ "name": token.name })),
        )
        .await;
        Ok(())
    }

    /// Removes expired sessions; run periodically by the server.
    pub async fn prune_sessions(&self) -> Result<u64, ServiceError> {
        Ok(self.store().delete_expired_sessions(Utc::now()).await?)
    }
}

/// Used by orgs: a slug from an explicit value or derived from the name.
pub(crate) fn slug_or_derived(slug: Option<&str>, name: &Name) -> Result<Slug, ValidationError> {
    match slug {
        Some(slug) => Slug::parse("slug", slug),
        None => Slug::from_name("slug", name.as_str()),
    }
}
