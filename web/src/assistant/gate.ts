// When inline completions may ask the server: a debounce that Monaco's cancellation
// cuts short, and a back-off after failures so a missing endpoint or a spent budget
// does not turn every keystroke into a 503 or a 429.

/** Waits `ms`; answers false at once when `signal` aborts first (no timer left behind). */
export function debounce(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export const BACKOFF_MIN_MS = 60_000;
export const BACKOFF_MAX_MS = 15 * 60_000;
/** After an error that is not about configuration or budget (502, 504, network). */
export const TRANSIENT_PAUSE_MS = 10_000;

/**
 * Remembers failures: 503 (not configured, breaker open) and 429 (budget) pause asking
 * for at least the server's Retry-After, doubling from a minute up to 15 minutes while
 * they repeat; other failures pause briefly. A success clears it.
 */
export class CompletionGate {
  private blockedUntil = 0;
  private backoff = 0;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Whether a request may go out now. */
  open(): boolean {
    return this.now() >= this.blockedUntil;
  }

  /** Milliseconds until the gate opens (0 when open). */
  remaining(): number {
    return Math.max(0, this.blockedUntil - this.now());
  }

  succeeded(): void {
    this.backoff = 0;
    this.blockedUntil = 0;
  }

  /** A failed request: its HTTP status (0 for a network error) and Retry-After in seconds. */
  failed(status: number, retryAfterSeconds?: number): void {
    let pause: number;
    if (status === 503 || status === 429) {
      this.backoff = this.backoff ? Math.min(BACKOFF_MAX_MS, this.backoff * 2) : BACKOFF_MIN_MS;
      pause = Math.max(this.backoff, (retryAfterSeconds ?? 0) * 1000);
    } else if (status >= 400 && status < 500) {
      // A request the server refuses (422: the file is too large) is about this file:
      // pause briefly rather than for long.
      pause = TRANSIENT_PAUSE_MS;
    } else {
      pause = Math.max(TRANSIENT_PAUSE_MS, (retryAfterSeconds ?? 0) * 1000);
    }
    this.blockedUntil = Math.max(this.blockedUntil, this.now() + pause);
  }

  /** Forget any pause (the settings changed, e.g. an admin configured an endpoint). */
  reset(): void {
    this.succeeded();
  }
}

/** The text around the cursor that goes to the server, cut to its limits (12 KiB before, 4 KiB after). */
export function completionWindow(before: string, after: string, maxPrefix = 12 * 1024, maxSuffix = 4 * 1024): { prefix: string; suffix: string } {
  return {
    prefix: before.length > maxPrefix ? before.slice(before.length - maxPrefix) : before,
    suffix: after.length > maxSuffix ? after.slice(0, maxSuffix) : after,
  };
}
