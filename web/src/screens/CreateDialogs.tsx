// The dialogs that create an org and a project, and edit a project, with per-field
// server errors.
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useLocation } from "wouter";

import { api, unwrap } from "../api/client";
import { Button, Dialog, Field, FormError, TextField, formErrors, noErrors, toast, type FormErrors } from "../components";
import { keys, type Org, type Project } from "./data";

export function CreateOrgDialog({
  open,
  onClose,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  onCreated: (org: Org) => void;
}) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const close = () => {
    if (busy) return;
    setName("");
    setSlug("");
    setErrors(noErrors);
    onClose();
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ fields: { name: "Enter a name." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const org = await unwrap(api.POST("/api/v1/orgs", { body: { name: name.trim(), slug: slug.trim() || null } }));
      await queryClient.invalidateQueries({ queryKey: keys.orgs });
      toast(`Created ${org.name}`);
      setBusy(false);
      setName("");
      setSlug("");
      onClose();
      onCreated(org);
    } catch (error) {
      setBusy(false);
      setErrors(formErrors(error, { fields: ["name", "slug"], codes: { slug_taken: "slug" } }));
    }
  };
  return (
    <Dialog open={open} title="New organization" onClose={close} dismissible={!busy} size="small">
      <form className="form" onSubmit={submit} noValidate>
        <TextField label="Name" name="name" value={name} onChange={(event) => setName(event.target.value)} error={errors.fields.name} required />
        <TextField
          label="Slug"
          name="slug"
          optional
          hint="Used in URLs; lowercase letters, digits and dashes. Derived from the name when empty."
          className="mono"
          value={slug}
          onChange={(event) => setSlug(event.target.value)}
          error={errors.fields.slug}
        />
        <FormError message={errors.form} />
        <div className="dialog-footer dialog-footer-inline">
          <Button variant="secondary" onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" busy={busy}>
            Create organization
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function CreateProjectDialog({ org, open, onClose }: { org: Org; open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [slug, setSlug] = useState("");
  const [openAfter, setOpenAfter] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const reset = () => {
    setName("");
    setDescription("");
    setSlug("");
    setErrors(noErrors);
  };
  const close = () => {
    if (busy) return;
    reset();
    onClose();
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim()) {
      setErrors({ fields: { name: "Enter a name." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const project = await unwrap(
        api.POST("/api/v1/orgs/{org}/projects", {
          params: { path: { org: org.id } },
          body: { name: name.trim(), description: description.trim() || null, slug: slug.trim() || null },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: keys.allProjects(org.id) });
      toast(`Created ${project.name}`);
      setBusy(false);
      reset();
      onClose();
      if (openAfter) navigate(`/p/${encodeURIComponent(project.id)}`);
    } catch (error) {
      setBusy(false);
      setErrors(formErrors(error, { fields: ["name", "slug", "description"], codes: { slug_taken: "slug" } }));
    }
  };
  return (
    <Dialog open={open} title={`New project in ${org.name}`} onClose={close} dismissible={!busy}>
      <form className="form" onSubmit={submit} noValidate>
        <TextField label="Name" name="name" value={name} onChange={(event) => setName(event.target.value)} error={errors.fields.name} required />
        <Field label="Description" optional error={errors.fields.description}>
          {(control) => (
            <textarea {...control} name="description" rows={2} value={description} onChange={(event) => setDescription(event.target.value)} />
          )}
        </Field>
        <TextField
          label="Slug"
          name="slug"
          optional
          className="mono"
          hint="Unique in the organization; derived from the name when empty."
          value={slug}
          onChange={(event) => setSlug(event.target.value)}
          error={errors.fields.slug}
        />
        <label className="checkbox">
          <input type="checkbox" checked={openAfter} onChange={(event) => setOpenAfter(event.target.checked)} />
          Open it in the editor when created
        </label>
        <FormError message={errors.form} />
        <div className="dialog-footer dialog-footer-inline">
          <Button variant="secondary" onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" busy={busy}>
            Create project
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function EditProjectDialog({ project, onClose }: { project: Project | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [slug, setSlug] = useState("");
  const [loadedFor, setLoadedFor] = useState<string | null>(null);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  if (project && loadedFor !== project.id) {
    setLoadedFor(project.id);
    setName(project.name);
    setDescription(project.description);
    setSlug(project.slug);
    setErrors(noErrors);
  }
  const close = () => {
    if (busy) return;
    setLoadedFor(null);
    onClose();
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!project) return;
    if (!name.trim()) {
      setErrors({ fields: { name: "Enter a name." }, form: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const updated = await unwrap(
        api.PATCH("/api/v1/projects/{project}", {
          params: { path: { project: project.id } },
          body: {
            name: name.trim() !== project.name ? name.trim() : null,
            description: description.trim() !== project.description ? description.trim() : null,
            slug: slug.trim() !== project.slug ? slug.trim() : null,
          },
        }),
      );
      await queryClient.invalidateQueries({ queryKey: keys.allProjects(project.org_id) });
      toast(`Saved ${updated.name}`);
      setBusy(false);
      setLoadedFor(null);
      onClose();
    } catch (error) {
      setBusy(false);
      setErrors(formErrors(error, { fields: ["name", "slug", "description"], codes: { slug_taken: "slug" } }));
    }
  };
  return (
    <Dialog open={project !== null} title={`Edit ${project?.name ?? "project"}`} onClose={close} dismissible={!busy}>
      <form className="form" onSubmit={submit} noValidate>
        <TextField label="Name" name="name" value={name} onChange={(event) => setName(event.target.value)} error={errors.fields.name} required />
        <Field label="Description" optional error={errors.fields.description}>
          {(control) => (
            <textarea {...control} name="description" rows={2} value={description} onChange={(event) => setDescription(event.target.value)} />
          )}
        </Field>
        <TextField
          label="Slug"
          name="slug"
          className="mono"
          hint="Unique in the organization; used in export file names."
          value={slug}
          onChange={(event) => setSlug(event.target.value)}
          error={errors.fields.slug}
        />
        <FormError message={errors.form} />
        <div className="dialog-footer dialog-footer-inline">
          <Button variant="secondary" onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" busy={busy}>
            Save
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
