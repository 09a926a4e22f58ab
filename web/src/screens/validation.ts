// Checks a form makes before asking the server (which checks again): the same
// rules as the server's, so people see the problem without a round trip.

/** The server's minimum (dockyard-domain `MIN_PASSWORD_CHARS`). */
export const MIN_PASSWORD_CHARS = 10;

export function validateEmail(email: string): string | null {
  const trimmed = email.trim();
  if (!trimmed) return "Enter an e-mail address.";
  if (!/^[^\s@]+@[^\s@]+$/.test(trimmed)) return "Enter an e-mail address such as ada@example.com.";
  return null;
}

export function validateNewPassword(password: string, email = ""): string | null {
  if ([...password].length < MIN_PASSWORD_CHARS) return `Use at least ${MIN_PASSWORD_CHARS} characters.`;
  if (new Set(password).size < 4) return "Use at least 4 different characters.";
  if (email.trim() && password.trim().toLowerCase() === email.trim().toLowerCase()) return "Don't use your e-mail address as the password.";
  return null;
}

/** `expires_in_days` for a token: null for "never", else 1-3650. */
export function parseExpiryDays(raw: string): { days: number | null; error: string | null } {
  if (raw === "never" || raw.trim() === "") return { days: null, error: null };
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 3650) return { days: null, error: "Choose between 1 and 3650 days." };
  return { days, error: null };
}
