// The branch switcher: a small dialog listing local and remote-tracking branches,
// filtered as you type; switching, creating (and switching to) a new branch, and
// deleting a local one. Escape or a click outside closes it.
import { useEffect, useRef, useState } from "react";

import { ApiError, api, encodePath, ensureOk, unwrap } from "../../api/client";
import { useGitBranches } from "./queries";

interface BranchPickerProps {
  projectId: string;
  current: string | null;
  onClose(): void;
  /** Called after a switch, create or delete, with a message to show. */
  onChanged(message: string, switched: boolean): void;
}

export function BranchPicker({ projectId, current, onClose, onChanged }: BranchPickerProps) {
  const branches = useGitBranches(projectId, true);
  const [filter, setFilter] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmForce, setConfirmForce] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const dialog = useRef<HTMLDivElement>(null);

  useEffect(() => {
    input.current?.focus();
    const outside = (event: MouseEvent) => {
      if (dialog.current && !dialog.current.contains(event.target as Node)) onClose();
    };
    document.addEventListener("mousedown", outside);
    return () => document.removeEventListener("mousedown", outside);
  }, [onClose]);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
    } finally {
      setBusy(false);
    }
  };

  const checkout = (branch: string) =>
    run(async () => {
      await unwrap(api.POST("/api/v1/projects/{project}/git/checkout", { params: { path: { project: projectId } }, body: { branch } }));
      onChanged(`Switched to ${branch}.`, true);
      onClose();
    });

  const create = (name: string) =>
    run(async () => {
      await unwrap(
        api.POST("/api/v1/projects/{project}/git/branches", { params: { path: { project: projectId } }, body: { name, checkout: true } }),
      );
      onChanged(`Created and switched to ${name}.`, true);
      onClose();
    });

  const remove = (name: string, force: boolean) =>
    run(async () => {
      // `force` is a query parameter (the OpenAPI document lists it as a path one).
      const url = `/api/v1/projects/${encodeURIComponent(projectId)}/git/branches/${encodePath(name)}${force ? "?force=true" : ""}`;
      try {
        await ensureOk(await fetch(url, { method: "DELETE", credentials: "same-origin" }));
      } catch (caught) {
        if (!force && caught instanceof ApiError && caught.status === 409) {
          setConfirmForce(name);
        }
        throw caught;
      }
      setConfirmForce(null);
      onChanged(`Deleted branch ${name}.`, false);
      void branches.refetch();
    });

  const needle = filter.trim().toLowerCase();
  const list = (branches.data?.branches ?? []).filter((branch) => !needle || branch.name.toLowerCase().includes(needle));
  const exists = (branches.data?.branches ?? []).some((branch) => branch.name === filter.trim());
  const local = list.filter((branch) => !branch.remote);
  const remote = list.filter((branch) => branch.remote);

  const submit = () => {
    const name = filter.trim();
    if (!name) return;
    if (exists) void checkout(name);
    else void create(name);
  };

  return (
    <div
      ref={dialog}
      className="git-branch-dialog"
      role="dialog"
      aria-label="Switch branch"
      onKeyDown={(event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          onClose();
        }
      }}
    >
      <input
        ref={input}
        type="text"
        aria-label="Branch name"
        placeholder="Select a branch or type a new name"
        value={filter}
        spellCheck={false}
        aria-invalid={error?.field === "name" ? true : undefined}
        onChange={(event) => {
          setFilter(event.target.value);
          setError(null);
        }}
        onKeyDown={(event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            submit();
          }
        }}
      />
      {error ? (
        <div className="panel-error" role="alert">
          {error.message}
        </div>
      ) : null}
      {confirmForce ? (
        <div className="panel-note">
          {confirmForce} is not fully merged.{" "}
          <button type="button" className="danger" disabled={busy} onClick={() => void remove(confirmForce, true)}>
            Delete anyway
          </button>
        </div>
      ) : null}
      <ul className="git-branch-list" aria-label="Branches">
        {filter.trim() && !exists ? (
          <li>
            <button type="button" className="git-branch-item" disabled={busy} onClick={() => void create(filter.trim())}>
              + Create branch <strong>{filter.trim()}</strong>
            </button>
          </li>
        ) : null}
        {branches.isPending ? <li className="git-diff-note">Loading branches…</li> : null}
        {branches.isError ? (
          <li className="panel-error" role="alert">
            {branches.error.message}
          </li>
        ) : null}
        {local.map((branch) => (
          <li key={`l:${branch.name}`} className="git-branch-row">
            <button
              type="button"
              className="git-branch-item"
              aria-current={branch.name === current ? "true" : undefined}
              disabled={busy || branch.name === current}
              onClick={() => void checkout(branch.name)}
            >
              <span aria-hidden="true">{branch.name === current ? "✓" : "⎇"}</span> {branch.name}
              <span className="file-dir">{branch.head.slice(0, 7)}</span>
            </button>
            {branch.name !== current ? (
              <button
                type="button"
                className="icon-button"
                aria-label={`Delete branch ${branch.name}`}
                title={`Delete branch ${branch.name}`}
                disabled={busy}
                onClick={() => void remove(branch.name, false)}
              >
                ✕
              </button>
            ) : null}
          </li>
        ))}
        {remote.length > 0 ? <li className="git-branch-heading">Remote branches</li> : null}
        {remote.map((branch) => (
          <li key={`r:${branch.name}`} className="git-branch-row">
            <button type="button" className="git-branch-item" disabled={busy} onClick={() => void checkout(branch.name)}>
              <span aria-hidden="true">☁</span> {branch.name}
              <span className="file-dir">{branch.head.slice(0, 7)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
