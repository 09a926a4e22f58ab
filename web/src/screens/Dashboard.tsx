// The dashboard: the caller's orgs, and the selected org's projects (searchable,
// paginated) with create, import (archive upload or git URL, with live progress),
// export and delete. Clicking a project opens the IDE at /p/{id}.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";

import { api, unwrap } from "../api/client";
import { Button, ConfirmDialog, MenuButton, ProgressBar, errorMessage, formatDateTime, relativeTime, sentence, toast } from "../components";
import { AppShell } from "./AppShell";
import { CreateOrgDialog, CreateProjectDialog, EditProjectDialog } from "./CreateDialogs";
import {
  exportFormats,
  exportUrl,
  keys,
  roleAtLeast,
  useOrgs,
  useProjects,
  type Org,
  type Project,
} from "./data";
import { ImportDialog } from "./ImportDialog";
import { describeProgress, progressFraction } from "./importJob";
import { useImports, type ImportEntry } from "./importStore";

const LAST_ORG_KEY = "dockyard.dashboard.org";

/** The org to show: the one in the URL, else the last one viewed, else the first. */
export function pickOrg(orgs: Org[], requested: string | null, remembered: string | null): Org | undefined {
  const match = (wanted: string | null) => (wanted ? orgs.find((org) => org.slug === wanted || org.id === wanted) : undefined);
  return match(requested) ?? match(remembered) ?? orgs[0];
}

function readRemembered(): string | null {
  try {
    return localStorage.getItem(LAST_ORG_KEY);
  } catch {
    return null;
  }
}

export function DashboardScreen() {
  const orgs = useOrgs();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = useMemo(() => new URLSearchParams(search), [search]);
  const [creatingOrg, setCreatingOrg] = useState(params.get("new-org") === "1");
  const org = orgs.data ? pickOrg(orgs.data, params.get("org"), readRemembered()) : undefined;

  useEffect(() => {
    if (params.get("new-org") === "1") {
      setCreatingOrg(true);
      navigate(org ? `/?org=${encodeURIComponent(org.slug)}` : "/", { replace: true });
    }
  }, [params, navigate, org]);

  useEffect(() => {
    if (!org) return;
    try {
      localStorage.setItem(LAST_ORG_KEY, org.slug);
    } catch {
      // Private mode: nothing to remember.
    }
  }, [org]);

  return (
    <AppShell title={org ? `${org.name} projects` : "Projects"} current="projects" currentOrg={org ?? null} wide>
      <div className="dashboard">
        <nav className="org-nav" aria-label="Organizations">
          <div className="org-nav-head">
            <h2 className="section-label" id="org-nav-title">
              Organizations
            </h2>
            <Button variant="ghost" className="btn-small" onClick={() => setCreatingOrg(true)} aria-label="New organization">
              + New
            </Button>
          </div>
          {orgs.isPending ? (
            <p className="muted" role="status">
              Loading…
            </p>
          ) : orgs.isError ? (
            <p className="form-error" role="alert">
              {errorMessage(orgs.error)}
            </p>
          ) : (
            <ul className="org-nav-list" aria-labelledby="org-nav-title">
              {orgs.data.map((item) => (
                <li key={item.id}>
                  <Link
                    href={`/?org=${encodeURIComponent(item.slug)}`}
                    className="org-nav-item"
                    aria-current={item.id === org?.id ? "page" : undefined}
                  >
                    <span className="org-nav-name">{item.name}</span>
                    {item.role ? <span className="badge">{item.role}</span> : null}
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </nav>
        <section className="dashboard-main" aria-labelledby="dashboard-title">
          {org ? (
            <OrgProjects org={org} />
          ) : orgs.data && orgs.data.length === 0 ? (
            <div className="empty-state">
              <h1 id="dashboard-title">You're not in any organization yet</h1>
              <p>Projects live in organizations. Create one for yourself or your team, or ask an admin to add you to theirs.</p>
              <Button onClick={() => setCreatingOrg(true)}>Create an organization</Button>
            </div>
          ) : (
            <h1 id="dashboard-title" className="visually-hidden">
              Projects
            </h1>
          )}
        </section>
      </div>
      <CreateOrgDialog
        open={creatingOrg}
        onClose={() => setCreatingOrg(false)}
        onCreated={(created) => navigate(`/?org=${encodeURIComponent(created.slug)}`)}
      />
    </AppShell>
  );
}

function OrgProjects({ org }: { org: Org }) {
  const queryClient = useQueryClient();
  const [query, setQuery] = useState("");
  const [debounced, setDebounced] = useState("");
  const [creating, setCreating] = useState(false);
  const [importing, setImporting] = useState(false);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const [editing, setEditing] = useState<Project | null>(null);
  const projects = useProjects(org.id, debounced);
  const imports = useImports((state) => state.byJob);
  const dismissImport = useImports((state) => state.dismiss);
  const canCreate = roleAtLeast(org.role, "developer");
  const canDelete = roleAtLeast(org.role, "admin");

  useEffect(() => {
    const timer = setTimeout(() => setDebounced(query.trim()), 250);
    return () => clearTimeout(timer);
  }, [query]);

  useEffect(() => {
    setQuery("");
    setDebounced("");
  }, [org.id]);

  const items = projects.data?.pages.flatMap((page) => page.items) ?? [];
  const orgImports = Object.values(imports).filter((entry) => entry.orgId === org.id);
  const importByProject = new Map(orgImports.map((entry) => [entry.projectId, entry]));
  const failedImports = orgImports.filter((entry) => entry.progress.phase === "failed");

  const deleteProject = async (project: Project) => {
    await unwrap(api.DELETE("/api/v1/projects/{project}", { params: { path: { project: project.id } } }));
    await queryClient.invalidateQueries({ queryKey: keys.allProjects(org.id) });
    toast(`Deleted ${project.name}`);
  };

  return (
    <>
      <div className="page-head">
        <div>
          <h1 id="dashboard-title">{org.name}</h1>
          <p className="muted page-sub">
            {org.role ? (
              <>
                You are <span className="badge">{org.role}</span> ·{" "}
              </>
            ) : null}
            <Link href={`/orgs/${encodeURIComponent(org.slug)}`}>Members and audit log</Link>
          </p>
        </div>
        {canCreate ? (
          <div className="page-actions">
            <Button variant="secondary" onClick={() => setImporting(true)}>
              Import project
            </Button>
            <Button onClick={() => setCreating(true)}>New project</Button>
          </div>
        ) : null}
      </div>

      {failedImports.map((entry) => (
        <div key={entry.jobId} className="notice notice-danger" role="alert">
          <div>
            <strong>Import of {entry.name} failed.</strong> {sentence(entry.progress.error?.message ?? "")}
          </div>
          <Button variant="ghost" className="btn-small" onClick={() => dismissImport(entry.jobId)}>
            Dismiss
          </Button>
        </div>
      ))}

      <div className="toolbar" hidden={!projects.isPending && items.length === 0 && !query && !debounced}>
        <input
          type="search"
          className="search-input"
          placeholder="Search projects"
          aria-label="Search projects"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        <span className="muted" role="status" aria-live="polite">
          {projects.isFetching && !projects.isFetchingNextPage ? "Loading…" : ""}
        </span>
      </div>

      {projects.isPending ? (
        <p className="muted">Loading projects…</p>
      ) : projects.isError ? (
        <div className="notice notice-danger" role="alert">
          Could not load the projects: {errorMessage(projects.error)}{" "}
          <Button variant="ghost" className="btn-small" onClick={() => void projects.refetch()}>
            Retry
          </Button>
        </div>
      ) : items.length === 0 ? (
        debounced ? (
          <div className="empty-state">
            <p>No project matches “{debounced}”.</p>
          </div>
        ) : (
          <div className="empty-state">
            <h2>No projects yet</h2>
            {canCreate ? (
              <>
                <p>
                  A project is a workspace you edit in the browser IDE and later deploy. Start from an empty folder, or
                  import an existing codebase from a .zip or .tar.gz archive or a git repository.
                </p>
                <div className="empty-actions">
                  <Button onClick={() => setCreating(true)}>New project</Button>
                  <Button variant="secondary" onClick={() => setImporting(true)}>
                    Import project
                  </Button>
                </div>
              </>
            ) : (
              <p>You can read this organization's projects but not create them; ask an admin for the developer role.</p>
            )}
          </div>
        )
      ) : (
        <ul className="project-list" aria-label={`Projects in ${org.name}`}>
          {items.map((project) => (
            <ProjectRow
              key={project.id}
              project={project}
              importing={importByProject.get(project.id)}
              canDelete={canDelete}
              canEdit={canCreate}
              onEdit={() => setEditing(project)}
              onDelete={() => setDeleting(project)}
              onDismissImport={dismissImport}
            />
          ))}
        </ul>
      )}
      {projects.hasNextPage ? (
        <div className="load-more">
          <Button variant="secondary" busy={projects.isFetchingNextPage} onClick={() => void projects.fetchNextPage()}>
            Load more projects
          </Button>
        </div>
      ) : null}

      <CreateProjectDialog org={org} open={creating} onClose={() => setCreating(false)} />
      <EditProjectDialog project={editing} onClose={() => setEditing(null)} />
      <ImportDialog org={org} open={importing} onClose={() => setImporting(false)} />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? "project"}?`}
        confirmLabel="Delete project"
        onConfirm={() => (deleting ? deleteProject(deleting) : undefined)}
        onClose={() => setDeleting(null)}
      >
        <p>
          This deletes <strong>{deleting?.name}</strong> and every file in its workspace. It cannot be undone; export the
          project first if you may need it.
        </p>
      </ConfirmDialog>
    </>
  );
}

function ProjectRow({
  project,
  importing,
  canDelete,
  canEdit,
  onEdit,
  onDelete,
  onDismissImport,
}: {
  project: Project;
  importing: ImportEntry | undefined;
  canDelete: boolean;
  canEdit: boolean;
  onEdit: () => void;
  onDelete: () => void;
  onDismissImport: (jobId: string) => void;
}) {
  const running = importing && importing.progress.phase !== "done" && importing.progress.phase !== "failed";
  const done = importing?.progress.phase === "done";
  return (
    <li className="project-row">
      <div className="project-main">
        <Link href={`/p/${encodeURIComponent(project.id)}`} className="project-name">
          {project.name}
        </Link>
        {project.slug !== project.name ? <span className="project-slug mono">{project.slug}</span> : null}
        {importing && (running || done) ? (
          <div className="project-import">
            <ProgressBar
              label={`Import of ${project.name}`}
              value={progressFraction(importing.progress)}
              valueText={describeProgress(importing.progress)}
              tone={done ? "success" : "normal"}
            />
            <span className="project-import-text">
              {describeProgress(importing.progress)}
              {done ? (
                <button type="button" className="link-button" onClick={() => onDismissImport(importing.jobId)}>
                  Dismiss
                </button>
              ) : null}
            </span>
          </div>
        ) : project.description ? (
          <p className="project-description">{project.description}</p>
        ) : null}
      </div>
      <div className="project-meta muted" title={formatDateTime(project.updated_at)}>
        Updated {relativeTime(project.updated_at)}
      </div>
      <div className="project-actions">
        <MenuButton
          label={`Export ${project.name}`}
          items={exportFormats.map((item) => ({
            label: item.label,
            detail: item.detail,
            href: exportUrl(project.id, item.format),
            download: true,
          }))}
        >
          Export <span aria-hidden="true" className="caret">▾</span>
        </MenuButton>
        {canEdit ? (
          <Button variant="ghost" className="btn-small" onClick={onEdit} aria-label={`Edit ${project.name}`}>
            Edit
          </Button>
        ) : null}
        {canDelete ? (
          <Button variant="ghost" className="btn-small btn-danger-text" onClick={onDelete} aria-label={`Delete ${project.name}`}>
            Delete
          </Button>
        ) : null}
      </div>
    </li>
  );
}
