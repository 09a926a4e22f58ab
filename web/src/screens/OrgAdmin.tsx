// An org's administration: its name and slug, members and their roles, the assistant's
// endpoint, the audit log (filtered by action, paginated) and deleting the org. Only what the caller's
// role allows is offered; a 403 (the role changed meanwhile) is still shown inline.
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";

import { api, unwrap } from "../api/client";
import { useMe } from "../app/session";
import {
  Button,
  ConfirmDialog,
  Field,
  FormError,
  TextField,
  errorMessage,
  formErrors,
  formatDateTime,
  isStatus,
  noErrors,
  relativeTime,
  toast,
  type FormErrors,
} from "../components";
import { AppShell } from "./AppShell";
import { OrgAssistantPanel } from "./OrgAssistantPanel";
import {
  keys,
  roleAtLeast,
  roleDescriptions,
  roles,
  useAudit,
  useMembers,
  useOrg,
  type AuditEvent,
  type Member,
  type Org,
  type Role,
} from "./data";

/** The audit actions the server records, for the filter. */
export const auditActions = [
  "auth.login",
  "auth.login_failed",
  "auth.logout",
  "auth.session_revoked",
  "git.credential_set",
  "git.credential_deleted",
  "git.pushed",
  "git.push_failed",
  "member.added",
  "member.removed",
  "member.role_changed",
  "org.created",
  "org.updated",
  "project.created",
  "project.updated",
  "project.deleted",
  "project.import_started",
  "project.imported",
  "project.import_failed",
  "token.created",
  "token.revoked",
];

/** The roles `caller` may give or take away: owners manage owners, admins the rest. */
export function assignableRoles(caller: Role | null | undefined): Role[] {
  if (caller === "owner") return roles;
  if (caller === "admin") return roles.filter((role) => role !== "owner");
  return [];
}

/** A short, readable summary of an audit entry's detail object. */
export function summarizeDetail(detail: unknown): string {
  if (!detail || typeof detail !== "object") return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(detail as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(`${key}: ${text}`);
  }
  return parts.join(", ");
}

export function OrgAdminScreen({ orgId }: { orgId: string }) {
  const org = useOrg(orgId);
  if (org.isPending) {
    return (
      <AppShell title="Organization" current="org">
        <p className="muted" role="status">
          Loading…
        </p>
      </AppShell>
    );
  }
  if (org.isError) {
    return (
      <AppShell title="Organization" current="org">
        <div className="empty-state">
          <h1>{isStatus(org.error, 404) ? "Organization not found" : "Could not load the organization"}</h1>
          <p>{isStatus(org.error, 404) ? "It does not exist, or you are not a member." : errorMessage(org.error)}</p>
          <Link href="/">Back to your projects</Link>
        </div>
      </AppShell>
    );
  }
  return <OrgAdmin org={org.data} />;
}

function OrgAdmin({ org }: { org: Org }) {
  const isAdmin = roleAtLeast(org.role, "admin");
  return (
    <AppShell title={`${org.name} settings`} current="org" currentOrg={org} wide>
      <div className="page-head">
        <div>
          <h1>{org.name}</h1>
          <p className="muted page-sub">
            <span className="mono">{org.slug}</span> · you are <span className="badge">{org.role ?? "not a member"}</span> ·{" "}
            <Link href={`/?org=${encodeURIComponent(org.slug)}`}>Projects</Link>
          </p>
        </div>
      </div>
      <div className="settings-layout">
        {isAdmin ? <GeneralPanel org={org} /> : null}
        <MembersPanel org={org} />
        {isAdmin ? <OrgAssistantPanel org={org} /> : null}
        <AuditPanel org={org} />
        {org.role === "owner" ? <DangerPanel org={org} /> : null}
      </div>
    </AppShell>
  );
}

function GeneralPanel({ org }: { org: Org }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [name, setName] = useState(org.name);
  const [slug, setSlug] = useState(org.slug);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ fields: { name: "Enter a name." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const updated = await unwrap(
        api.PATCH("/api/v1/orgs/{org}", {
          params: { path: { org: org.id } },
          body: { name: name.trim() !== org.name ? name.trim() : null, slug: slug.trim() !== org.slug ? slug.trim() : null },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: keys.orgs });
      toast("Organization saved");
      if (updated.slug !== org.slug) navigate(`/orgs/${encodeURIComponent(updated.slug)}`, { replace: true });
    } catch (error) {
      setErrors(formErrors(error, { fields: ["name", "slug"], codes: { slug_taken: "slug" } }));
    } finally {
      setBusy(false);
    }
  };
  const unchanged = name.trim() === org.name && slug.trim() === org.slug;
  return (
    <section className="panel" aria-labelledby="general-title">
      <div className="panel-head">
        <h2 id="general-title">General</h2>
      </div>
      <div className="panel-body">
        <form className="form" onSubmit={submit} noValidate aria-label="Rename organization">
          <TextField label="Name" name="name" value={name} onChange={(event) => setName(event.target.value)} error={errors.fields.name} />
          <TextField
            label="Slug"
            name="slug"
            className="mono"
            hint="Appears in URLs. Changing it breaks links to the old one."
            value={slug}
            onChange={(event) => setSlug(event.target.value)}
            error={errors.fields.slug}
          />
          <FormError message={errors.form} />
          <div>
            <Button type="submit" busy={busy} disabled={unchanged}>
              Save
            </Button>
          </div>
        </form>
      </div>
    </section>
  );
}

function MembersPanel({ org }: { org: Org }) {
  const members = useMembers(org.id);
  const me = useMe();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("developer");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const [rowError, setRowError] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const assignable = assignableRoles(org.role);
  const canManage = assignable.length > 0;

  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: keys.members(org.id) }), queryClient.invalidateQueries({ queryKey: keys.orgs })]);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    if (!email.trim()) {
      setErrors({ fields: { email: "Enter the e-mail address of an existing user." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const added = await unwrap(
        api.POST("/api/v1/orgs/{org}/members", { params: { path: { org: org.id } }, body: { email: email.trim(), role } }),
      );
      setEmail("");
      await refresh();
      toast(`Added ${added.name} as ${added.role}`);
    } catch (error) {
      setErrors(formErrors(error, { fields: ["email", "role"], codes: { user_not_found: "email", already_member: "email" } }));
    } finally {
      setBusy(false);
    }
  };

  const changeRole = async (member: Member, next: Role) => {
    setRowError(null);
    try {
      await unwrap(
        api.PATCH("/api/v1/orgs/{org}/members/{user}", {
          params: { path: { org: org.id, user: member.user_id } },
          body: { role: next },
        }),
      );
      await refresh();
      toast(`${member.name} is now ${next}`);
    } catch (error) {
      setRowError(`Could not change ${member.name}'s role: ${errorMessage(error)}`);
    }
  };

  const remove = async (member: Member) => {
    await unwrap(
      api.DELETE("/api/v1/orgs/{org}/members/{user}", { params: { path: { org: org.id, user: member.user_id } } }),
    );
    if (member.user_id === me.data?.id) {
      await queryClient.invalidateQueries({ queryKey: keys.orgs });
      toast(`You left ${org.name}`);
      navigate("/");
      return;
    }
    await refresh();
    toast(`Removed ${member.name}`);
  };

  return (
    <section className="panel" aria-labelledby="members-title">
      <div className="panel-head">
        <div>
          <h2 id="members-title">Members</h2>
          <p className="muted">
            {canManage ? "Add people who already have a Dockyard account, and choose what they may do." : "Who can reach this organization's projects."}
          </p>
        </div>
      </div>
      {rowError ? (
        <div className="panel-body">
          <FormError message={rowError} />
        </div>
      ) : null}
      {members.isPending ? (
        <p className="panel-body muted">Loading…</p>
      ) : members.isError ? (
        <p className="panel-body form-error" role="alert">
          {errorMessage(members.error)}
        </p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Members of {org.name}</caption>
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Role</th>
                <th scope="col" className="hide-narrow">
                  Joined
                </th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((member) => {
                const self = member.user_id === me.data?.id;
                const editable = canManage && (member.role !== "owner" || org.role === "owner");
                return (
                  <tr key={member.user_id}>
                    <td>
                      {member.name} {self ? <span className="badge badge-accent">you</span> : null}
                      <span className="cell-sub">{member.email}</span>
                    </td>
                    <td>
                      {editable ? (
                        <select
                          aria-label={`Role of ${member.name}`}
                          value={member.role}
                          onChange={(event) => void changeRole(member, event.target.value as Role)}
                        >
                          {roles
                            .filter((option) => assignable.includes(option) || option === member.role)
                            .map((option) => (
                              <option key={option} value={option}>
                                {option}
                              </option>
                            ))}
                        </select>
                      ) : (
                        <span className="badge">{member.role}</span>
                      )}
                    </td>
                    <td className="hide-narrow" title={formatDateTime(member.joined_at)}>
                      {relativeTime(member.joined_at)}
                    </td>
                    <td className="actions">
                      {self || editable ? (
                        <Button
                          variant="ghost"
                          className="btn-small btn-danger-text"
                          onClick={() => setRemoving(member)}
                          aria-label={self ? `Leave ${org.name}` : `Remove ${member.name}`}
                        >
                          {self ? "Leave" : "Remove"}
                        </Button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {canManage ? (
        <div className="panel-body">
          <form className="inline-form" onSubmit={add} noValidate aria-label="Add member">
            <TextField
              label="Add a member by e-mail"
              name="email"
              type="email"
              placeholder="name@example.com"
              value={email}
              onChange={(event) => setEmail(event.target.value)}
              error={errors.fields.email}
            />
            <Field label="Role" error={errors.fields.role}>
              {(control) => (
                <select {...control} name="role" value={role} onChange={(event) => setRole(event.target.value as Role)}>
                  {assignable.map((option) => (
                    <option key={option} value={option}>
                      {option} — {roleDescriptions[option]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Button type="submit" busy={busy}>
              Add member
            </Button>
          </form>
          <FormError message={errors.form} />
        </div>
      ) : null}
      <ConfirmDialog
        open={removing !== null}
        title={removing?.user_id === me.data?.id ? `Leave ${org.name}?` : `Remove ${removing?.name ?? "member"}?`}
        confirmLabel={removing?.user_id === me.data?.id ? "Leave organization" : "Remove member"}
        onConfirm={() => (removing ? remove(removing) : undefined)}
        onClose={() => setRemoving(null)}
      >
        <p>
          {removing?.user_id === me.data?.id
            ? `You will lose access to ${org.name}'s projects.`
            : `${removing?.name ?? ""} (${removing?.email ?? ""}) will lose access to ${org.name}'s projects.`}
        </p>
      </ConfirmDialog>
    </section>
  );
}

function AuditPanel({ org }: { org: Org }) {
  const allowed = roleAtLeast(org.role, "admin");
  const [action, setAction] = useState("");
  const audit = useAudit(org.id, action, allowed);
  const members = useMembers(org.id);
  const items: AuditEvent[] = audit.data?.pages.flatMap((page) => page.items) ?? [];
  const names = new Map((members.data ?? []).map((member) => [member.user_id, member.name]));
  const actorName = (entry: AuditEvent) =>
    entry.actor_label ?? (entry.actor_user_id ? (names.get(entry.actor_user_id) ?? entry.actor_user_id) : "system");
  return (
    <section className="panel" aria-labelledby="audit-title">
      <div className="panel-head">
        <div>
          <h2 id="audit-title">Audit log</h2>
          <p className="muted">Security-relevant actions in this organization, newest first.</p>
        </div>
        {allowed ? (
          <Field label="Action" className="audit-filter">
            {(control) => (
              <select {...control} value={action} onChange={(event) => setAction(event.target.value)}>
                <option value="">All actions</option>
                {auditActions.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : null}
      </div>
      {!allowed ? (
        <p className="panel-body muted">Only admins and owners can read the audit log.</p>
      ) : audit.isPending ? (
        <p className="panel-body muted">Loading…</p>
      ) : audit.isError ? (
        <p className="panel-body form-error" role="alert">
          {isStatus(audit.error, 403) ? "Your role does not allow reading the audit log." : errorMessage(audit.error)}
        </p>
      ) : items.length === 0 ? (
        <p className="panel-body muted">{action ? `No ${action} entries.` : "Nothing recorded yet."}</p>
      ) : (
        <div className="table-wrap">
          <table className="table audit-table">
            <caption className="visually-hidden">Audit log of {org.name}</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col" className="hide-narrow">
                  Target
                </th>
                <th scope="col" className="hide-narrow">
                  Details
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((entry) => {
                const detail = summarizeDetail(entry.detail);
                return (
                  <tr key={entry.id}>
                    <td title={formatDateTime(entry.created_at)}>{relativeTime(entry.created_at)}</td>
                    <td>
                      <span className="mono">{entry.action}</span>
                    </td>
                    <td>
                      {actorName(entry)}
                      {entry.ip ? <span className="cell-sub mono">{entry.ip}</span> : null}
                    </td>
                    <td className="hide-narrow">
                      {entry.target_type ? (
                        <>
                          {entry.target_type}
                          <span className="cell-sub mono">{entry.target_id}</span>
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td className="hide-narrow">
                      <div className="detail-json mono" title={detail}>
                        {detail || "—"}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {allowed && audit.hasNextPage ? (
        <div className="load-more">
          <Button variant="secondary" busy={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>
            Load older entries
          </Button>
        </div>
      ) : null}
    </section>
  );
}

function DangerPanel({ org }: { org: Org }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [confirming, setConfirming] = useState(false);
  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/orgs/{org}", { params: { path: { org: org.id } } }));
    queryClient.removeQueries({ queryKey: keys.org(org.id) });
    await queryClient.invalidateQueries({ queryKey: keys.orgs });
    toast(`Deleted ${org.name}`);
    navigate("/");
  };
  return (
    <section className="panel panel-danger" aria-labelledby="danger-title">
      <div className="panel-head">
        <div>
          <h2 id="danger-title">Delete organization</h2>
          <p className="muted">Deletes {org.name} with all its projects and their files. This cannot be undone.</p>
        </div>
        <Button variant="danger" onClick={() => setConfirming(true)}>
          Delete organization
        </Button>
      </div>
      <ConfirmDialog
        open={confirming}
        title={`Delete ${org.name}?`}
        confirmLabel="Delete organization"
        onConfirm={remove}
        onClose={() => setConfirming(false)}
      >
        <p>
          Every project in <strong>{org.name}</strong> and every file in them will be deleted. Export what you need first.
        </p>
      </ConfirmDialog>
    </section>
  );
}
