// First-run setup: the first instance admin (name, e-mail, password) and the
// one-time token `dockyard serve` printed. On success the server signs the admin
// in; refreshing `me` and `setup` sends the app to the dashboard.
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { api, unwrap } from "../api/client";
import { sessionKeys } from "../app/session";
import { Button, FormError, TextField, formErrors, noErrors, type FormErrors } from "../components";
import { AuthLayout } from "./AppShell";
import { validateEmail, validateNewPassword } from "./validation";

const fields = ["name", "email", "password", "confirm", "token"] as const;

export function SetupScreen() {
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ name: "", email: "", password: "", confirm: "", token: "" });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  const change = (field: keyof typeof form) => (event: { target: { value: string } }) => {
    setForm((current) => ({ ...current, [field]: event.target.value }));
    if (errors.fields[field]) setErrors((current) => ({ ...current, fields: { ...current.fields, [field]: "" } }));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local: Record<string, string> = {};
    if (!form.name.trim()) local.name = "Enter your name.";
    const emailProblem = validateEmail(form.email);
    if (emailProblem) local.email = emailProblem;
    const passwordProblem = validateNewPassword(form.password, form.email);
    if (passwordProblem) local.password = passwordProblem;
    else if (form.password !== form.confirm) local.confirm = "The passwords do not match.";
    if (!form.token.trim()) local.token = "Paste the setup token from the server's output.";
    if (Object.keys(local).length > 0) {
      setErrors({ fields: local, form: null });
      focusFirstError(local);
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      await unwrap(
        api.POST("/api/v1/setup", {
          body: { name: form.name.trim(), email: form.email.trim(), password: form.password, token: form.token.trim() },
        }),
      );
      // Setup first: `me` asks the server only once the instance is set up.
      queryClient.setQueryData(sessionKeys.setup, { needs_setup: false });
      await queryClient.invalidateQueries({ queryKey: sessionKeys.setup });
      await queryClient.invalidateQueries({ queryKey: sessionKeys.me });
    } catch (error) {
      const next = formErrors(error, {
        fields,
        codes: { invalid_setup_token: "token", email_taken: "email", weak_password: "password", invalid_email: "email" },
      });
      setErrors(next);
      focusFirstError(next.fields);
      setBusy(false);
    }
  };

  return (
    <AuthLayout title="Set up Dockyard">
      <h1>Welcome to Dockyard</h1>
      <p className="auth-lead">Create the first administrator account. You can invite your team afterwards.</p>
      <form className="form" onSubmit={submit} noValidate aria-label="First-run setup">
        <TextField
          label="Your name"
          name="name"
          autoComplete="name"
          value={form.name}
          onChange={change("name")}
          error={errors.fields.name}
          required
        />
        <TextField
          label="E-mail"
          name="email"
          type="email"
          autoComplete="email"
          value={form.email}
          onChange={change("email")}
          error={errors.fields.email}
          required
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          hint="At least 10 characters."
          value={form.password}
          onChange={change("password")}
          error={errors.fields.password}
          required
        />
        <TextField
          label="Confirm password"
          name="confirm"
          type="password"
          autoComplete="new-password"
          value={form.confirm}
          onChange={change("confirm")}
          error={errors.fields.confirm}
          required
        />
        <TextField
          label="Setup token"
          name="token"
          className="mono"
          autoComplete="off"
          spellCheck={false}
          hint={
            <>
              <code>dockyard serve</code> printed it when it started, on the line <code>Setup token: …</code> (look in the
              terminal or the service's log, e.g. <code>journalctl -u dockyard</code> or <code>docker logs</code>). It works once.
            </>
          }
          value={form.token}
          onChange={change("token")}
          error={errors.fields.token}
          required
        />
        <FormError message={errors.form} />
        <Button type="submit" busy={busy} className="btn-block">
          Create account
        </Button>
      </form>
    </AuthLayout>
  );
}

/** Moves focus to the first field with an error, so keyboard users land on it. */
export function focusFirstError(fieldErrors: Record<string, string>) {
  const first = Object.entries(fieldErrors).find(([, message]) => message)?.[0];
  if (!first) return;
  requestAnimationFrame(() => {
    const element = document.querySelector<HTMLElement>(`form [name="${first}"]`);
    element?.focus();
  });
}
