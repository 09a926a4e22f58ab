// Remotes and the project's git credential, so fetch/pull/push work from the UI:
// list, add and remove remotes (https URLs without credentials) and store an access
// token (encrypted on the server, never shown again).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { ApiError, api, unwrap } from "../../api/client";
import { gitKeys } from "./queries";

function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, null, String(caught));
}

export function RemotesSection({ projectId }: { projectId: string }) {
  const params = { params: { path: { project: projectId } } };
  const client = useQueryClient();
  const remotes = useQuery({
    queryKey: [...gitKeys.all(projectId), "remotes"],
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/git/remotes", params)),
  });
  const credential = useQuery({
    queryKey: [...gitKeys.all(projectId), "credential"],
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/git/credential", params)),
  });

  const [name, setName] = useState("origin");
  const [url, setUrl] = useState("");
  const [token, setToken] = useState("");
  const [username, setUsername] = useState("");
  const [error, setError] = useState<{ where: "remote" | "credential"; error: ApiError } | null>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);

  const run = async (where: "remote" | "credential", work: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      setNote(await work());
    } catch (caught) {
      setError({ where, error: asApiError(caught) });
    } finally {
      setBusy(false);
      await client.invalidateQueries({ queryKey: gitKeys.all(projectId) });
    }
  };

  const addRemote = (event: FormEvent) => {
    event.preventDefault();
    void run("remote", async () => {
      await unwrap(api.POST("/api/v1/projects/{project}/git/remotes", { ...params, body: { name: name.trim(), url: url.trim() } }));
      setUrl("");
      return `Added remote ${name.trim()}.`;
    });
  };

  const removeRemote = (remote: string) =>
    run("remote", async () => {
      await unwrap(api.DELETE("/api/v1/projects/{project}/git/remotes/{name}", { params: { path: { project: projectId, name: remote } } }));
      return `Removed remote ${remote}.`;
    });

  const saveCredential = (event: FormEvent) => {
    event.preventDefault();
    void run("credential", async () => {
      await unwrap(
        api.PUT("/api/v1/projects/{project}/git/credential", {
          ...params,
          body: { token, ...(username.trim() ? { username: username.trim() } : {}) },
        }),
      );
      setToken("");
      return "Saved the git credential.";
    });
  };

  const removeCredential = () =>
    run("credential", async () => {
      await unwrap(api.DELETE("/api/v1/projects/{project}/git/credential", params));
      return "Removed the git credential.";
    });

  const fieldError = (where: "remote" | "credential", field: string) =>
    error?.where === where && error.error.field === field ? true : undefined;

  return (
    <div className="git-remotes">
      {remotes.isError ? (
        <div className="panel-error" role="alert">
          {remotes.error.message}
        </div>
      ) : null}
      <ul className="git-remote-list" aria-label="Remotes">
        {remotes.data?.remotes.length === 0 ? <li className="git-diff-note">No remotes yet: add one to fetch, pull and push.</li> : null}
        {remotes.data?.remotes.map((remote) => (
          <li key={remote.name} className="git-remote">
            <span className="file-name">{remote.name}</span>
            <span className="file-dir" title={remote.url}>
              {remote.url}
            </span>
            <button type="button" className="icon-button" aria-label={`Remove remote ${remote.name}`} title="Remove remote" disabled={busy} onClick={() => void removeRemote(remote.name)}>
              ✕
            </button>
          </li>
        ))}
      </ul>
      <form className="git-remote-form" onSubmit={addRemote} aria-label="Add a remote">
        <input
          type="text"
          aria-label="Remote name"
          value={name}
          spellCheck={false}
          className="git-remote-name"
          aria-invalid={fieldError("remote", "name")}
          onChange={(event) => setName(event.target.value)}
        />
        <input
          type="url"
          aria-label="Remote URL"
          placeholder="https://github.com/you/repo.git"
          value={url}
          spellCheck={false}
          aria-invalid={fieldError("remote", "url")}
          onChange={(event) => setUrl(event.target.value)}
        />
        <button type="submit" className="secondary" disabled={busy || !url.trim() || !name.trim()}>
          Add
        </button>
      </form>
      {error?.where === "remote" ? (
        <div className="panel-error" role="alert">
          {error.error.message}
        </div>
      ) : null}

      <form className="git-remote-form" onSubmit={saveCredential} aria-label="Git credential">
        <p className="git-diff-note git-credential-state">
          {credential.data?.configured
            ? `A token is stored${credential.data.username ? ` for ${credential.data.username}` : ""}.`
            : "No token stored: public repositories only."}
          {credential.data?.configured ? (
            <button type="button" className="link-button" disabled={busy} onClick={() => void removeCredential()}>
              Remove
            </button>
          ) : null}
        </p>
        <input
          type="text"
          aria-label="Credential username"
          placeholder="username (x-access-token)"
          value={username}
          autoComplete="off"
          spellCheck={false}
          aria-invalid={fieldError("credential", "username")}
          onChange={(event) => setUsername(event.target.value)}
        />
        <input
          type="password"
          aria-label="Access token"
          placeholder="access token"
          value={token}
          autoComplete="new-password"
          aria-invalid={fieldError("credential", "token")}
          onChange={(event) => setToken(event.target.value)}
        />
        <button type="submit" className="secondary" disabled={busy || !token}>
          Save token
        </button>
      </form>
      {error?.where === "credential" ? (
        <div className="panel-error" role="alert">
          {error.error.message}
        </div>
      ) : null}
      {note ? (
        <div className="panel-note" role="status">
          {note}
        </div>
      ) : null}
    </div>
  );
}
