// The signed-in user's account: profile, password, sessions (devices) and API
// tokens (scopes, expiry, the new secret shown once).
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { api, unwrap } from "../api/client";
import { sessionKeys, useMe } from "../app/session";
import {
  Button,
  ConfirmDialog,
  CopyOnce,
  Dialog,
  Field,
  FormError,
  TextField,
  errorMessage,
  formErrors,
  formatDateTime,
  noErrors,
  plural,
  relativeTime,
  toast,
  type FormErrors,
} from "../components";
import { THEMES, useSettingsDraft, type Theme } from "../ide/settings";
import { AppShell } from "./AppShell";
import { keys, useSessions, useTokens, type Scope, type Session, type Token } from "./data";
import { parseExpiryDays, validateNewPassword } from "./validation";

export function AccountScreen() {
  return (
    <AppShell title="Account" current="account">
      <div className="page-head">
        <div>
          <h1>Account</h1>
          <p className="muted page-sub">Your profile, password, signed-in devices and API tokens.</p>
        </div>
      </div>
      <div className="settings-layout">
        <ProfilePanel />
        <AppearancePanel />
        <PasswordPanel />
        <SessionsPanel />
        <TokensPanel />
      </div>
    </AppShell>
  );
}

function ProfilePanel() {
  const me = useMe();
  const queryClient = useQueryClient();
  const [name, setName] = useState<string | null>(null);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const user = me.data;
  if (!user) return null;
  const value = name ?? user.name;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!value.trim()) {
      setErrors({ fields: { name: "Enter your name." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const updated = await unwrap(api.PATCH("/api/v1/me", { body: { name: value.trim() } }));
      queryClient.setQueryData(sessionKeys.me, updated);
      setName(null);
      toast("Profile saved");
    } catch (error) {
      setErrors(formErrors(error, { fields: ["name"] }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="profile-title">
      <div className="panel-head">
        <div>
          <h2 id="profile-title">Profile</h2>
          <p className="muted">
            Member since {formatDateTime(user.created_at)}
            {user.instance_admin ? (
              <>
                {" "}
                · <span className="badge badge-accent">instance admin</span>
              </>
            ) : null}
          </p>
        </div>
      </div>
      <div className="panel-body">
        <form className="form" onSubmit={submit} noValidate aria-label="Profile">
          <TextField label="Name" name="name" autoComplete="name" value={value} onChange={(event) => setName(event.target.value)} error={errors.fields.name} />
          <TextField
            label="E-mail"
            name="email"
            type="email"
            value={user.email}
            readOnly
            hint="Your sign-in address. An instance admin can change it."
          />
          <FormError message={errors.form} />
          <div>
            <Button type="submit" busy={busy} disabled={value.trim() === user.name}>
              Save profile
            </Button>
          </div>
        </form>
      </div>
    </section>
  );
}

function AppearancePanel() {
  const { shown: settings, update } = useSettingsDraft();
  const choose = (theme: Theme) =>
    update({ theme }, { onError: (error) => toast(`Could not save the theme: ${errorMessage(error)}`, "error") });
  return (
    <section className="panel" aria-labelledby="appearance-title">
      <div className="panel-head">
        <div>
          <h2 id="appearance-title">Appearance</h2>
          <p className="muted">Applies to every screen and the editor, on every device you use.</p>
        </div>
      </div>
      <div className="panel-body">
        <fieldset className="field">
          <legend className="field-label">Theme</legend>
          <div className="theme-options">
            {THEMES.map((option) => (
              <label key={option.id} className={`theme-option theme-swatch-${option.id}`}>
                <input
                  type="radio"
                  name="theme"
                  value={option.id}
                  checked={settings.theme === option.id}
                  onChange={() => choose(option.id)}
                />
                <span className="theme-swatch" aria-hidden="true" />
                {option.label}
              </label>
            ))}
          </div>
        </fieldset>
      </div>
    </section>
  );
}

function PasswordPanel() {
  const queryClient = useQueryClient();
  const me = useMe();
  const [form, setForm] = useState({ current_password: "", new_password: "", confirm: "" });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const change = (field: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm((current) => ({ ...current, [field]: event.target.value }));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local: Record<string, string> = {};
    if (!form.current_password) local.current_password = "Enter your current password.";
    const problem = validateNewPassword(form.new_password, me.data?.email);
    if (problem) local.new_password = problem;
    else if (form.new_password !== form.confirm) local.confirm = "The passwords do not match.";
    if (Object.keys(local).length) {
      setErrors({ fields: local, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const result = await unwrap(
        api.POST("/api/v1/me/password", { body: { current_password: form.current_password, new_password: form.new_password } }),
      );
      setForm({ current_password: "", new_password: "", confirm: "" });
      await queryClient.invalidateQueries({ queryKey: keys.sessions });
      toast(
        result.sessions_revoked > 0
          ? `Password changed; signed out ${plural(result.sessions_revoked, "other session")}.`
          : "Password changed.",
      );
    } catch (error) {
      setErrors(
        formErrors(error, {
          fields: ["current_password", "new_password", "confirm"],
          aliases: { password: "new_password" },
          codes: { wrong_password: "current_password", weak_password: "new_password" },
        }),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="password-title">
      <div className="panel-head">
        <div>
          <h2 id="password-title">Password</h2>
          <p className="muted">Changing it signs out your other sessions.</p>
        </div>
      </div>
      <div className="panel-body">
        <form className="form" onSubmit={submit} noValidate aria-label="Change password">
          <input type="text" name="username" autoComplete="username" value={me.data?.email ?? ""} readOnly hidden />
          <TextField
            label="Current password"
            name="current_password"
            type="password"
            autoComplete="current-password"
            value={form.current_password}
            onChange={change("current_password")}
            error={errors.fields.current_password}
          />
          <TextField
            label="New password"
            name="new_password"
            type="password"
            autoComplete="new-password"
            hint="At least 10 characters."
            value={form.new_password}
            onChange={change("new_password")}
            error={errors.fields.new_password}
          />
          <TextField
            label="Confirm new password"
            name="confirm"
            type="password"
            autoComplete="new-password"
            value={form.confirm}
            onChange={change("confirm")}
            error={errors.fields.confirm}
          />
          <FormError message={errors.form} />
          <div>
            <Button type="submit" busy={busy}>
              Change password
            </Button>
          </div>
        </form>
      </div>
    </section>
  );
}

/** "Chrome on Linux" from a user agent; the raw string when nothing matches. */
export function describeUserAgent(agent: string | null | undefined): string {
  if (!agent) return "Unknown device";
  const browser = /Edg\//.test(agent)
    ? "Edge"
    : /OPR\//.test(agent)
      ? "Opera"
      : /Firefox\//.test(agent)
        ? "Firefox"
        : /(Chrome|Chromium|HeadlessChrome)\//.test(agent)
          ? "Chrome"
          : /Safari\//.test(agent)
            ? "Safari"
            : /curl\//.test(agent)
              ? "curl"
              : null;
  const os = /Windows/.test(agent)
    ? "Windows"
    : /iPhone|iPad/.test(agent)
      ? "iOS"
      : /Android/.test(agent)
        ? "Android"
        : /Mac OS X|Macintosh/.test(agent)
          ? "macOS"
          : /Linux/.test(agent)
            ? "Linux"
            : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? agent.slice(0, 60);
}

function SessionsPanel() {
  const sessions = useSessions();
  const queryClient = useQueryClient();
  const [revoking, setRevoking] = useState<Session | "others" | null>(null);
  const others = sessions.data?.filter((session) => !session.current) ?? [];
  const revoke = async (targets: Session[]) => {
    for (const session of targets) {
      await unwrap(api.DELETE("/api/v1/me/sessions/{id}", { params: { path: { id: session.id } } }));
    }
    await queryClient.invalidateQueries({ queryKey: keys.sessions });
    toast(targets.length === 1 ? "Session signed out" : `Signed out ${plural(targets.length, "session")}`);
  };
  return (
    <section className="panel" aria-labelledby="sessions-title">
      <div className="panel-head">
        <div>
          <h2 id="sessions-title">Sessions</h2>
          <p className="muted">Browsers and devices signed in to your account.</p>
        </div>
        <Button variant="secondary" disabled={others.length === 0} onClick={() => setRevoking("others")}>
          Sign out other sessions
        </Button>
      </div>
      {sessions.isPending ? (
        <p className="panel-body muted">Loading…</p>
      ) : sessions.isError ? (
        <p className="panel-body form-error" role="alert">
          {errorMessage(sessions.error)}
        </p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Your sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col" className="hide-narrow">
                  IP address
                </th>
                <th scope="col">Last active</th>
                <th scope="col" className="hide-narrow">
                  Expires
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.map((session) => (
                <tr key={session.id}>
                  <td>
                    <span title={session.user_agent ?? undefined}>{describeUserAgent(session.user_agent)}</span>{" "}
                    {session.current ? <span className="badge badge-accent">this session</span> : null}
                    <span className="cell-sub">Signed in {formatDateTime(session.created_at)}</span>
                  </td>
                  <td className="hide-narrow mono">{session.ip ?? "—"}</td>
                  <td title={formatDateTime(session.last_seen_at)}>{relativeTime(session.last_seen_at)}</td>
                  <td className="hide-narrow" title={formatDateTime(session.expires_at)}>
                    {relativeTime(session.expires_at)}
                  </td>
                  <td className="actions">
                    {session.current ? null : (
                      <Button variant="ghost" className="btn-small btn-danger-text" onClick={() => setRevoking(session)}>
                        Sign out
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={revoking === "others" ? "Sign out every other session?" : "Sign out this session?"}
        confirmLabel="Sign out"
        onConfirm={() => revoke(revoking === "others" ? others : revoking ? [revoking] : [])}
        onClose={() => setRevoking(null)}
      >
        <p>
          {revoking === "others"
            ? `${plural(others.length, "other session")} will have to log in again. This one stays signed in.`
            : revoking
              ? `${describeUserAgent(revoking.user_agent)}${revoking.ip ? ` (${revoking.ip})` : ""} will have to log in again.`
              : null}
        </p>
      </ConfirmDialog>
    </section>
  );
}

const scopeDescriptions: Record<Scope, string> = {
  read: "Read: list and read projects and files",
  write: "Write: also change files, projects and deployments",
  admin: "Admin: everything your roles allow, including members",
};

const expiryChoices = [
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "never", label: "Never" },
];

function tokenStatus(token: Token, now = Date.now()): { label: string; tone: "accent" | "danger" | "plain" } {
  if (token.revoked_at) return { label: "revoked", tone: "danger" };
  if (token.expires_at && Date.parse(token.expires_at) <= now) return { label: "expired", tone: "danger" };
  return { label: "active", tone: "plain" };
}

function TokensPanel() {
  const tokens = useTokens();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const revoke = async (token: Token) => {
    await unwrap(api.DELETE("/api/v1/tokens/{id}", { params: { path: { id: token.id } } }));
    await queryClient.invalidateQueries({ queryKey: keys.tokens });
    toast(`Revoked ${token.name}`);
  };
  const list = tokens.data ?? [];
  return (
    <section className="panel" aria-labelledby="tokens-title">
      <div className="panel-head">
        <div>
          <h2 id="tokens-title">API tokens</h2>
          <p className="muted">
            For the CLI, scripts and CI: send one as <code>Authorization: Bearer …</code>.
          </p>
        </div>
        <Button onClick={() => setCreating(true)}>New token</Button>
      </div>
      {tokens.isPending ? (
        <p className="panel-body muted">Loading…</p>
      ) : tokens.isError ? (
        <p className="panel-body form-error" role="alert">
          {errorMessage(tokens.error)}
        </p>
      ) : list.length === 0 ? (
        <p className="panel-body muted">No tokens yet. Create one to use Dockyard's API from a script or the CLI.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Your API tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scope</th>
                <th scope="col" className="hide-narrow">
                  Last used
                </th>
                <th scope="col" className="hide-narrow">
                  Expires
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((token) => {
                const status = tokenStatus(token);
                return (
                  <tr key={token.id}>
                    <td>
                      {token.name}{" "}
                      {status.label !== "active" ? (
                        <span className={`badge ${status.tone === "danger" ? "badge-danger" : ""}`}>{status.label}</span>
                      ) : null}
                      <span className="cell-sub mono">{token.prefix}…</span>
                    </td>
                    <td>
                      <span className="badge">{token.scope}</span>
                    </td>
                    <td className="hide-narrow" title={formatDateTime(token.last_used_at)}>
                      {relativeTime(token.last_used_at)}
                    </td>
                    <td className="hide-narrow" title={formatDateTime(token.expires_at)}>
                      {token.expires_at ? formatDateTime(token.expires_at) : "never"}
                    </td>
                    <td className="actions">
                      {token.revoked_at ? null : (
                        <Button
                          variant="ghost"
                          className="btn-small btn-danger-text"
                          onClick={() => setRevoking(token)}
                          aria-label={`Revoke ${token.name}`}
                        >
                          Revoke
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <CreateTokenDialog open={creating} onClose={() => setCreating(false)} />
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? "token"}?`}
        confirmLabel="Revoke token"
        onConfirm={() => (revoking ? revoke(revoking) : undefined)}
        onClose={() => setRevoking(null)}
      >
        <p>Scripts using this token stop working at once. This cannot be undone.</p>
      </ConfirmDialog>
    </section>
  );
}

function CreateTokenDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [scope, setScope] = useState<Scope>("read");
  const [expiry, setExpiry] = useState("90");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const close = () => {
    if (busy) return;
    setName("");
    setScope("read");
    setExpiry("90");
    setErrors(noErrors);
    setCreated(null);
    onClose();
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ fields: { name: "Name the token after where you will use it." }, form: null });
      return;
    }
    const { days, error } = parseExpiryDays(expiry);
    if (error) {
      setErrors({ fields: { expires_in_days: error }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const result = await unwrap(
        api.POST("/api/v1/tokens", { body: { name: name.trim(), scopes: [scope], expires_in_days: days } }),
      );
      setCreated({ name: result.name, token: result.token });
      await queryClient.invalidateQueries({ queryKey: keys.tokens });
    } catch (failure) {
      setErrors(formErrors(failure, { fields: ["name", "scopes", "expires_in_days"] }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open={open}
      title={created ? `Token ${created.name} created` : "New API token"}
      onClose={close}
      dismissible={!busy}
      footer={created ? <Button onClick={close}>Done</Button> : undefined}
    >
      {created ? (
        <CopyOnce value={created.token} label="New API token">
          <p className="muted">
            Use it as <code>Authorization: Bearer {created.token.slice(0, 6)}…</code>. If you lose it, revoke it and create
            another.
          </p>
        </CopyOnce>
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          <TextField
            label="Name"
            name="name"
            placeholder="e.g. laptop CLI, GitHub Actions"
            value={name}
            onChange={(event) => setName(event.target.value)}
            error={errors.fields.name}
          />
          <fieldset className="field" aria-describedby={errors.fields.scopes ? "token-scope-error" : undefined}>
            <legend className="field-label">Scope</legend>
            <div className="scope-options">
              {(Object.keys(scopeDescriptions) as Scope[]).map((option) => (
                <label key={option} className="checkbox">
                  <input type="radio" name="scope" value={option} checked={scope === option} onChange={() => setScope(option)} />
                  {scopeDescriptions[option]}
                </label>
              ))}
            </div>
            {errors.fields.scopes ? (
              <div className="field-error" id="token-scope-error">
                {errors.fields.scopes}
              </div>
            ) : null}
          </fieldset>
          <Field label="Expires" error={errors.fields.expires_in_days} hint="A token that expires limits the damage if it leaks.">
            {(control) => (
              <select {...control} name="expires_in_days" value={expiry} onChange={(event) => setExpiry(event.target.value)}>
                {expiryChoices.map((choice) => (
                  <option key={choice.value} value={choice.value}>
                    {choice.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <FormError message={errors.form} />
          <div className="dialog-footer dialog-footer-inline">
            <Button variant="secondary" onClick={close} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" busy={busy}>
              Create token
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
