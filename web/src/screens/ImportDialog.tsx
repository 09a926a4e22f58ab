// Import a new project from an archive upload (.zip, .tar.gz or a Dockyard JSON
// export; drag and drop works) or from a git repository over https. Shows the
// upload's byte progress, then the import job's progress from its event stream,
// and the job's error inline if it fails. Closing the dialog while the job runs
// leaves it running: the project's row on the dashboard shows its progress.
import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type DragEvent, type FormEvent } from "react";
import { useLocation } from "wouter";

import { api, unwrap } from "../api/client";
import {
  Button,
  Dialog,
  Field,
  FormError,
  ProgressBar,
  TextField,
  formErrors,
  formatBytes,
  noErrors,
  sentence,
  toast,
  type FormErrors,
} from "../components";
import { keys, type Org } from "./data";
import {
  describeProgress,
  isFinished,
  nameFromFile,
  nameFromGitUrl,
  progressFraction,
  uploadImport,
  uploadingProgress,
  type ImportProgress,
} from "./importJob";
import { useImports } from "./importStore";

type Source = "archive" | "git";

const fields = ["name", "archive", "git_url", "branch", "token"] as const;

export function ImportDialog({ org, open, onClose }: { org: Org; open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [source, setSource] = useState<Source>("archive");
  const [name, setName] = useState("");
  const [nameTouched, setNameTouched] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [gitUrl, setGitUrl] = useState("");
  const [branch, setBranch] = useState("");
  const [token, setToken] = useState("");
  const [fullHistory, setFullHistory] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [upload, setUpload] = useState<ImportProgress | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const entry = useImports((state) => (jobId ? state.byJob[jobId] : undefined));
  const groupName = useId();

  const progress: ImportProgress | null = entry?.progress ?? upload;
  const finished = progress ? isFinished(progress) : false;
  const running = progress !== null && !finished;

  const reset = () => {
    setName("");
    setNameTouched(false);
    setFile(null);
    setGitUrl("");
    setBranch("");
    setToken("");
    setFullHistory(false);
    setErrors(noErrors);
    setUpload(null);
    setJobId(null);
  };

  const close = () => {
    if (upload && !jobId) {
      // Still uploading: closing cancels the upload.
      abort.current?.abort();
    } else if (running && entry) {
      toast(`The import of ${entry.name} continues in the background.`, "info");
    }
    // The dialog showed how it ended; the dashboard need not repeat it.
    if (entry && isFinished(entry.progress)) useImports.getState().dismiss(entry.jobId);
    reset();
    onClose();
  };

  const chooseFile = (chosen: File | null) => {
    setFile(chosen);
    setErrors((current) => ({ ...current, fields: { ...current.fields, archive: "" } }));
    if (chosen && !nameTouched) setName(nameFromFile(chosen.name));
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const dropped = event.dataTransfer.files[0];
    if (dropped) chooseFile(dropped);
  };

  const started = async (accepted: { job_id: string; project_id: string; job_url: string; events_url: string }, projectName: string) => {
    useImports.getState().follow(accepted, { orgId: org.id, name: projectName }, (ended) => {
      void queryClient.invalidateQueries({ queryKey: keys.allProjects(org.id) });
      if (ended.progress.phase === "done") toast(`Imported ${ended.name}`);
    });
    setJobId(accepted.job_id);
    await queryClient.invalidateQueries({ queryKey: keys.allProjects(org.id) });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local: Record<string, string> = {};
    const projectName = name.trim() || (source === "git" ? nameFromGitUrl(gitUrl) : file ? nameFromFile(file.name) : "");
    if (!projectName) local.name = "Enter a name for the new project.";
    if (source === "archive" && !file) local.archive = "Choose a .zip, .tar.gz or .json file.";
    if (source === "git" && !/^https:\/\/\S+$/.test(gitUrl.trim())) local.git_url = "Enter an https:// URL, e.g. https://github.com/owner/repo.git.";
    if (Object.keys(local).length > 0) {
      setErrors({ fields: local, form: null });
      return;
    }
    setErrors(noErrors);
    try {
      if (source === "archive" && file) {
        const body = new FormData();
        body.append("name", projectName);
        body.append("archive", file, file.name);
        abort.current = new AbortController();
        setUpload(uploadingProgress(0, file.size));
        const accepted = await uploadImport(
          `/api/v1/orgs/${encodeURIComponent(org.id)}/projects/import`,
          body,
          (sent, total) => setUpload(uploadingProgress(sent, total || file.size)),
          abort.current.signal,
        );
        await started(accepted, projectName);
      } else {
        setUpload({ ...uploadingProgress(0, 0), phase: "queued" });
        const accepted = await unwrap(
          api.POST("/api/v1/orgs/{org}/projects/import", {
            params: { path: { org: org.id } },
            body: {
              name: projectName,
              git_url: gitUrl.trim(),
              branch: branch.trim() || null,
              token: token || null,
              depth: fullHistory ? 0 : null,
            },
          }),
        );
        await started(accepted, projectName);
      }
    } catch (error) {
      setUpload(null);
      // Closing the dialog canceled the upload: nothing to report.
      if (abort.current?.signal.aborted) return;
      setErrors(
        formErrors(error, {
          fields,
          aliases: { git: "git_url", url: "git_url", file: "archive" },
          codes: { upload_too_large: "archive", quota_file_size: "archive", no_files: "archive", invalid_git_url: "git_url" },
        }),
      );
    }
  };

  const tryAgain = () => {
    if (jobId) useImports.getState().dismiss(jobId);
    setJobId(null);
    setUpload(null);
  };

  const showForm = progress === null;
  return (
    <Dialog
      open={open}
      title={`Import a project into ${org.name}`}
      onClose={close}
      size="medium"
      footer={
        showForm ? undefined : finished ? (
          progress?.phase === "done" && entry ? (
            <>
              <Button variant="secondary" onClick={close}>
                Close
              </Button>
              <Button
                onClick={() => {
                  const projectId = entry.projectId;
                  close();
                  navigate(`/p/${encodeURIComponent(projectId)}`);
                }}
              >
                Open project
              </Button>
            </>
          ) : (
            <>
              <Button variant="secondary" onClick={close}>
                Close
              </Button>
              <Button onClick={tryAgain}>Try again</Button>
            </>
          )
        ) : (
          <Button variant="secondary" onClick={close}>
            {jobId ? "Continue in background" : "Cancel upload"}
          </Button>
        )
      }
    >
      {showForm ? (
        <form className="form" onSubmit={submit} noValidate>
          <fieldset className="segmented">
            <legend className="field-label">Source</legend>
            <label className={source === "archive" ? "segment segment-on" : "segment"}>
              <input type="radio" name={groupName} value="archive" checked={source === "archive"} onChange={() => setSource("archive")} />
              Upload an archive
            </label>
            <label className={source === "git" ? "segment segment-on" : "segment"}>
              <input type="radio" name={groupName} value="git" checked={source === "git"} onChange={() => setSource("git")} />
              Clone a git repository
            </label>
          </fieldset>

          {source === "archive" ? (
            <Field
              label="Archive"
              error={errors.fields.archive}
              hint="A .zip or .tar.gz of your project (folders are kept), or a JSON export from Dockyard."
            >
              {(control) => (
                <div
                  className={["dropzone", dragging ? "dropzone-over" : null, file ? "dropzone-chosen" : null].filter(Boolean).join(" ")}
                  onDragOver={(event) => {
                    event.preventDefault();
                    setDragging(true);
                  }}
                  onDragLeave={() => setDragging(false)}
                  onDrop={onDrop}
                >
                  <input
                    {...control}
                    ref={fileInput}
                    name="archive"
                    type="file"
                    className="dropzone-input"
                    accept=".zip,.tar.gz,.tgz,.json,application/zip,application/gzip,application/json"
                    onChange={(event) => chooseFile(event.target.files?.[0] ?? null)}
                  />
                  <span className="dropzone-text">
                    {file ? (
                      <>
                        <strong>{file.name}</strong> · {formatBytes(file.size)}
                      </>
                    ) : (
                      <>Drop an archive here, or choose a file</>
                    )}
                  </span>
                </div>
              )}
            </Field>
          ) : (
            <>
              <TextField
                label="Repository URL"
                name="git_url"
                type="url"
                inputMode="url"
                className="mono"
                placeholder="https://github.com/owner/repo.git"
                spellCheck={false}
                value={gitUrl}
                onChange={(event) => {
                  setGitUrl(event.target.value);
                  if (!nameTouched) setName(nameFromGitUrl(event.target.value));
                }}
                error={errors.fields.git_url}
                required
              />
              <div className="field-row">
                <TextField
                  label="Branch"
                  name="branch"
                  optional
                  className="mono"
                  placeholder="default branch"
                  value={branch}
                  onChange={(event) => setBranch(event.target.value)}
                  error={errors.fields.branch}
                />
                <TextField
                  label="Access token"
                  name="token"
                  type="password"
                  optional
                  autoComplete="off"
                  hint="For private repositories. Stored encrypted for later pulls and pushes."
                  value={token}
                  onChange={(event) => setToken(event.target.value)}
                  error={errors.fields.token}
                />
              </div>
              <label className="checkbox">
                <input type="checkbox" checked={fullHistory} onChange={(event) => setFullHistory(event.target.checked)} />
                Clone the full history (default: only the latest commit)
              </label>
            </>
          )}

          <TextField
            label="Project name"
            name="name"
            value={name}
            onChange={(event) => {
              setName(event.target.value);
              setNameTouched(true);
            }}
            error={errors.fields.name}
            required
          />
          <FormError message={errors.form} />
          <div className="dialog-footer dialog-footer-inline">
            <Button variant="secondary" onClick={close}>
              Cancel
            </Button>
            <Button type="submit">Import</Button>
          </div>
        </form>
      ) : progress ? (
        <div className="import-progress">
          <ProgressBar
            label="Import progress"
            value={progressFraction(progress)}
            valueText={describeProgress(progress)}
            tone={progress.phase === "done" ? "success" : progress.phase === "failed" ? "danger" : "normal"}
          />
          <p className="import-progress-text" role="status" aria-live="polite">
            {progress.phase === "failed" ? null : describeProgress(progress)}
          </p>
          {progress.phase === "failed" ? (
            <div className="form-error" role="alert">
              <strong>The import failed.</strong> {sentence(progress.error?.message ?? "")}
              {progress.error?.code ? <span className="muted mono"> ({progress.error.code})</span> : null}
            </div>
          ) : null}
        </div>
      ) : null}
    </Dialog>
  );
}
