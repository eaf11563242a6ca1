/** Retry timing: capped exponential backoff with jitter, not sooner than the remote system asked unless that is past the cap. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /**
   * The longest wait a remote system's Retry-After (a connector's retryAfterMs) may impose
   * (DSR_RETRY_AFTER_MAX_MS); a longer one is cut to it. Unset: DEFAULT_RETRY_AFTER_MAX_MS.
   */
  retryAfterMaxMs?: number;
}

/** One hour: how long a Retry-After is honoured when the policy names no cap. */
export const DEFAULT_RETRY_AFTER_MAX_MS = 3_600_000;

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 5 * 60_000, retryAfterMaxMs: DEFAULT_RETRY_AFTER_MAX_MS };

/** The wait before the next attempt, and what the remote system asked for when it was cut. */
export interface RetryWait {
  delayMs: number;
  /** The Retry-After the remote system asked for (ms; Infinity when past any date), when the wait was cut short of it. */
  askedMs?: number;
  /** What cut it: the configured cap, or the request's due date. */
  cutBy?: "cap" | "due";
}

/**
 * A usable Retry-After: a number of ms at least 0. NaN and negative values (a connector's arithmetic
 * on a bad header) are no wait asked at all; Infinity stays, as the longest wait there is.
 */
function asked(retryAfterMs: number | undefined): number | undefined {
  return typeof retryAfterMs === "number" && retryAfterMs >= 0 ? retryAfterMs : undefined;
}

/**
 * The wait before attempt `attempt + 1`, given that `attempt` (1-based) just failed: the jittered
 * exponential backoff, or the remote system's Retry-After when longer, that cut to the policy's
 * retryAfterMaxMs and, when given, to `untilDueMs` (the time left to the request's due date, so the
 * retry comes by then). Never shorter than the backoff, always a finite number of ms a Date can hold.
 */
export function retryWait(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, untilDueMs?: number, random: () => number = Math.random): RetryWait {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // "Equal jitter": half fixed, half random, so retries of many tasks spread out but never collapse to 0.
  const jittered = Math.round(exponential / 2 + random() * (exponential / 2));
  const wanted = asked(retryAfterMs);
  if (wanted === undefined || wanted <= jittered) return { delayMs: jittered };
  const cap = policy.retryAfterMaxMs ?? DEFAULT_RETRY_AFTER_MAX_MS;
  const due = untilDueMs !== undefined && untilDueMs > 0 && untilDueMs < cap ? untilDueMs : undefined;
  const limit = due ?? cap;
  if (wanted <= limit) return { delayMs: Math.round(wanted) };
  return { delayMs: Math.round(Math.max(jittered, limit)), askedMs: wanted, cutBy: due !== undefined ? "due" : "cap" };
}

/** retryWait's delay alone. */
export function retryDelayMs(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  return retryWait(attempt, policy, retryAfterMs, undefined, random).delayMs;
}

/** A wait in words for an operator: "90 s", "2 h 5 min", "more than 100 years". */
export function describeWait(ms: number): string {
  if (!Number.isFinite(ms) || ms >= 100 * 365 * 86_400_000) return "more than 100 years";
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.round(min / 60);
  if (h < 72) return `${h} h`;
  const d = Math.round(h / 24);
  return d < 730 ? `${d} days` : `${Math.round(d / 365)} years`;
}

/** A promise of a retry that ends a connector's message ("; the task will be retried", "; will retry"). */
const RETRY_PROMISE = /[;,.]?\s*(the (task|roster) )?will (be )?retr(ied|y)\.?$/i;

/** A connector's message for a failure that is not retried any more: its promise of a retry dropped. */
export function withoutRetryPromise(message: string): string {
  return message.replace(RETRY_PROMISE, "");
}
