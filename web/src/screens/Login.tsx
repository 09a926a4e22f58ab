// Password login. A wrong password (401) or throttling (429) shows inline above
// the button; success refreshes `me`, and the app shows the dashboard.
import { useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";

import { ApiError, api, unwrap } from "../api/client";
import { sessionKeys } from "../app/session";
import { Button, FormError, TextField, errorMessage } from "../components";
import { AuthLayout } from "./AppShell";
import { validateEmail } from "./validation";

/** What the login form says for a failed attempt. */
export function loginErrorMessage(error: unknown, retryAfterSeconds?: number | null): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return "Wrong e-mail or password.";
    if (error.status === 429) {
      const wait = retryAfterSeconds && retryAfterSeconds > 0 ? ` Try again in ${retryAfterSeconds} s.` : " Try again in a minute.";
      return `Too many failed attempts.${wait}`;
    }
  }
  return errorMessage(error);
}

export function LoginScreen() {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [fieldErrors, setFieldErrors] = useState<{ email?: string; password?: string }>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passwordInput = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const emailProblem = validateEmail(email);
    const local = { email: emailProblem ?? undefined, password: password ? undefined : "Enter your password." };
    if (local.email || local.password) {
      setFieldErrors(local);
      setFormError(null);
      return;
    }
    setBusy(true);
    setFieldErrors({});
    setFormError(null);
    const call = api.POST("/api/v1/auth/login", { body: { email: email.trim(), password } });
    try {
      await unwrap(call);
      await queryClient.invalidateQueries({ queryKey: sessionKeys.me });
    } catch (error) {
      let retryAfter: number | null = null;
      try {
        retryAfter = Number((await call).response.headers.get("retry-after")) || null;
      } catch {
        retryAfter = null;
      }
      setFormError(loginErrorMessage(error, retryAfter));
      setBusy(false);
      setPassword("");
      passwordInput.current?.focus();
    }
  };

  return (
    <AuthLayout title="Log in">
      <h1>Log in to Dockyard</h1>
      <form className="form" onSubmit={submit} noValidate aria-label="Log in">
        <TextField
          label="E-mail"
          name="email"
          type="email"
          autoComplete="username"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={fieldErrors.email}
          required
          autoFocus
        />
        <TextField
          ref={passwordInput}
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={fieldErrors.password}
          required
        />
        <FormError message={formError} />
        <Button type="submit" busy={busy} className="btn-block">
          Log in
        </Button>
      </form>
      <p className="auth-foot">
        Forgot your password? An administrator can reset it with <code>dockyard user reset-password</code>.
      </p>
    </AuthLayout>
  );
}
