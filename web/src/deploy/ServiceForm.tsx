// The "New service" / "Edit service" form: name, source (workspace, git, image) with
// its fields, Dockerfile path, port, health-check path, replicas, a "Build and
// resources" section (build context, build args, health-check timeout, CPU and memory
// limits; open when any differs from the default or has an error) and the env-var table
// (add/remove rows, a "secret" checkbox per row; stored secrets stay masked). Server
// errors show under the field they name, else above the buttons.
import { useState, type FormEvent } from "react";

import { ApiError, api, unwrap } from "../api/client";
import { Button, Field, FormError, TextField, errorMessage, fieldMessage } from "../components";
import { ADVANCED_FIELDS, emptyForm, emptyRow, formFieldFor, formFromService, formToBody, hasAdvancedSettings, SECRET_MASK, type EnvRow, type ServiceForm as Form } from "./model";
import type { Service } from "./queries";

export function ServiceForm({ projectId, service, onDone, onCancel }: { projectId: string; service: Service | null; onDone(service: Service): void; onCancel(): void }) {
  const [form, setForm] = useState<Form>(() => (service ? formFromService(service) : emptyForm()));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [advancedOpen, setAdvancedOpen] = useState(() => hasAdvancedSettings(form));
  const patch = (change: Partial<Form>) => {
    setForm((f) => ({ ...f, ...change }));
    // A field's message goes once it is edited; the next submit checks again.
    setErrors((found) => (Object.keys(change).some((key) => key in found) ? Object.fromEntries(Object.entries(found).filter(([key]) => !(key in change))) : found));
  };
  const setRow = (id: string, change: Partial<EnvRow>) => setForm((f) => ({ ...f, env: f.env.map((r) => (r.id === id ? { ...r, ...change } : r)) }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    const { body, errors: found } = formToBody(form);
    setErrors(found);
    if (ADVANCED_FIELDS.some((field) => found[field])) setAdvancedOpen(true);
    if (!body) return;
    setBusy(true);
    try {
      const saved = service
        ? await unwrap(api.PATCH("/api/v1/services/{service}", { params: { path: { service: service.id } }, body }))
        : await unwrap(api.POST("/api/v1/projects/{project}/services", { params: { path: { project: projectId } }, body }));
      onDone(saved);
    } catch (failure) {
      const field = failure instanceof ApiError ? formFieldFor(failure.field, form) : null;
      if (failure instanceof ApiError && field) {
        setErrors({ [field]: fieldMessage(failure.message, failure.field) });
        if (ADVANCED_FIELDS.includes(field)) setAdvancedOpen(true);
      } else if (failure instanceof ApiError && failure.code === "service_name_taken") setErrors({ name: fieldMessage(failure.message, null) });
      else setFormError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };

  const title = service ? `Edit ${service.name}` : "New service";
  return (
    <form className="deploy-form" aria-label={title} onSubmit={submit} noValidate>
      <h3 className="deploy-form-title">{title}</h3>
      <TextField label="Name" value={form.name} onChange={(e) => patch({ name: e.target.value })} error={errors.name} autoComplete="off" spellCheck={false} hint="Lower-case letters, digits and '-'." />
      <Field label="Source" error={errors.sourceType}>
        {(control) => (
          <select {...control} value={form.sourceType} onChange={(e) => patch({ sourceType: e.target.value as Form["sourceType"] })}>
            <option value="workspace">This project's workspace</option>
            <option value="git">Git repository</option>
            <option value="image">Existing image</option>
          </select>
        )}
      </Field>
      {form.sourceType === "git" && (
        <>
          <TextField label="Repository URL" value={form.gitUrl} onChange={(e) => patch({ gitUrl: e.target.value })} error={errors.gitUrl} placeholder="https://example.com/app.git" spellCheck={false} />
          <TextField label="Branch" value={form.gitBranch} onChange={(e) => patch({ gitBranch: e.target.value })} error={errors.gitBranch} spellCheck={false} />
        </>
      )}
      {form.sourceType === "image" && <TextField label="Image" value={form.image} onChange={(e) => patch({ image: e.target.value })} error={errors.image} placeholder="my-app:latest" spellCheck={false} />}
      {form.sourceType !== "image" && (
        <TextField label="Dockerfile path" optional value={form.dockerfilePath} onChange={(e) => patch({ dockerfilePath: e.target.value })} error={errors.dockerfilePath} placeholder="Detected when empty" spellCheck={false} />
      )}
      <div className="deploy-form-row">
        <TextField label="Port" inputMode="numeric" value={form.port} onChange={(e) => patch({ port: e.target.value })} error={errors.port} />
        <TextField label="Replicas" inputMode="numeric" value={form.replicas} onChange={(e) => patch({ replicas: e.target.value })} error={errors.replicas} />
      </div>
      <TextField label="Health-check path" optional value={form.healthCheckPath} onChange={(e) => patch({ healthCheckPath: e.target.value })} error={errors.healthCheckPath} placeholder="/" spellCheck={false} />
      <details className="deploy-advanced" open={advancedOpen} onToggle={(e) => setAdvancedOpen(e.currentTarget.open)}>
        <summary>Build and resources</summary>
        {form.sourceType !== "image" && (
          <>
            <TextField label="Build context" optional value={form.context} onChange={(e) => patch({ context: e.target.value })} error={errors.context} placeholder="The source root" hint="A folder of the source; the Dockerfile path is relative to it." spellCheck={false} />
            <Field label="Build args" optional error={errors.buildArgs} hint="One NAME=value per line, for the Dockerfile's ARG lines.">
              {(control) => (
                <textarea {...control} className="deploy-build-args" rows={3} value={form.buildArgs} onChange={(e) => patch({ buildArgs: e.target.value })} placeholder="NODE_ENV=production" spellCheck={false} />
              )}
            </Field>
          </>
        )}
        <TextField label="Health-check timeout (seconds)" inputMode="numeric" value={form.healthTimeout} onChange={(e) => patch({ healthTimeout: e.target.value })} error={errors.healthTimeout} hint="How long a new instance has to pass its health check." />
        <TextField label="CPU limit (cores)" optional inputMode="decimal" value={form.cpu} onChange={(e) => patch({ cpu: e.target.value })} error={errors.cpu} placeholder="No limit" />
        <TextField label="Memory limit (MB)" optional inputMode="numeric" value={form.memoryMb} onChange={(e) => patch({ memoryMb: e.target.value })} error={errors.memoryMb} placeholder="No limit" />
      </details>
      <fieldset className="deploy-env">
        <legend>Environment variables</legend>
        {form.env.length === 0 ? <p className="deploy-muted">None.</p> : null}
        <ul className="deploy-env-rows" role="list">
          {form.env.map((row, i) => {
            const error = errors[`env:${row.id}`];
            const errorId = error ? `${row.id}-error` : undefined;
            return (
              <li key={row.id} className="deploy-env-row">
                <input
                  aria-label={`Name of variable ${i + 1}`}
                  placeholder="NAME"
                  value={row.key}
                  spellCheck={false}
                  autoComplete="off"
                  aria-invalid={error ? true : undefined}
                  aria-describedby={errorId}
                  onChange={(e) => setRow(row.id, { key: e.target.value })}
                />
                <input
                  aria-label={`Value of variable ${i + 1}`}
                  placeholder="value"
                  type={row.secret ? "password" : "text"}
                  value={row.value}
                  spellCheck={false}
                  autoComplete={row.secret ? "new-password" : "off"}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={errorId}
                  onFocus={(e) => row.stored && row.value === SECRET_MASK && e.currentTarget.select()}
                  onChange={(e) => setRow(row.id, { value: e.target.value })}
                />
                <label className="deploy-env-secret">
                  <input type="checkbox" checked={row.secret} onChange={(e) => setRow(row.id, { secret: e.target.checked })} aria-label={`Variable ${i + 1} is secret`} />
                  <span aria-hidden="true">Secret</span>
                </label>
                <button type="button" className="icon-button" aria-label={`Remove variable ${i + 1}`} title="Remove" onClick={() => setForm((f) => ({ ...f, env: f.env.filter((r) => r.id !== row.id) }))}>
                  ×
                </button>
                {error ? (
                  <div id={errorId} className="field-error deploy-env-error">
                    {error}
                  </div>
                ) : null}
              </li>
            );
          })}
        </ul>
        <Button variant="secondary" className="deploy-small" onClick={() => setForm((f) => ({ ...f, env: [...f.env, emptyRow()] }))}>
          Add variable
        </Button>
        {form.env.some((r) => r.stored) ? <p className="deploy-muted">Stored secrets stay hidden; type a new value to replace one.</p> : null}
      </fieldset>
      <FormError message={formError} />
      <div className="deploy-form-actions">
        <Button type="submit" busy={busy}>
          {service ? "Save service" : "Create service"}
        </Button>
        <Button variant="secondary" onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
