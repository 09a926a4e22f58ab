// Turns a failed API call into what a form shows: a message under the field at
// fault (the problem's `field`, or a field known from the error `code`), or one
// message for the whole form.
import { ApiError } from "../api/client";

export interface FormErrors {
  /** Messages keyed by the form's own field names. */
  fields: Record<string, string>;
  /** A message for the whole form (shown in a `role="alert"` above the buttons). */
  form: string | null;
}

export const noErrors: FormErrors = { fields: {}, form: null };

export interface FormErrorOptions {
  /** The form's field names; a problem naming another field becomes a form error. */
  fields: readonly string[];
  /** The server's field names mapped to the form's (e.g. `password` → `new_password`). */
  aliases?: Record<string, string>;
  /** Error codes that belong to a field although the problem names none (e.g. `email_taken` → `email`). */
  codes?: Record<string, string>;
}

/** Capitalises the first letter: server messages start in lower case. */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
}

/**
 * The message for a field: the server writes `field: message`; the label already
 * names the field, so the prefix goes.
 */
export function fieldMessage(message: string, field: string | null): string {
  if (field && message.startsWith(`${field}: `)) return sentence(message.slice(field.length + 2));
  return sentence(message);
}

/** What people should read for an error that is not tied to a field. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return "Could not reach the Dockyard server. Check your connection and try again.";
    if (error.status >= 500 && !error.problem) return `The server failed (${error.status}). Try again in a moment.`;
    return sentence(error.message);
  }
  if (error instanceof Error) return sentence(error.message);
  return sentence(String(error));
}

/** Splits an error into per-field messages and a form message. */
export function formErrors(error: unknown, options: FormErrorOptions): FormErrors {
  if (error instanceof ApiError) {
    const named = error.field ? (options.aliases?.[error.field] ?? error.field) : null;
    if (named && options.fields.includes(named)) {
      return { fields: { [named]: fieldMessage(error.message, error.field) }, form: null };
    }
    const byCode = options.codes?.[error.code];
    if (byCode && options.fields.includes(byCode)) {
      return { fields: { [byCode]: fieldMessage(error.message, error.field) }, form: null };
    }
  }
  return { fields: {}, form: errorMessage(error) };
}

/** True when `error` is an API error with one of these HTTP statuses. */
export function isStatus(error: unknown, ...statuses: number[]): boolean {
  return error instanceof ApiError && statuses.includes(error.status);
}
