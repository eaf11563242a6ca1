import { setTimeout as delay } from "node:timers/promises";
import { ConnectorError } from "./sdk";

/** The longest stretch of an inline wait between two heartbeats. */
const HEARTBEAT_MS = 2_000;

/** How a connector repeats a call that failed for a passing reason. */
export interface InlineRetry {
  /** Repeats after the first try (0: none). */
  retries: number;
  /** The longest wait taken inline; a longer Retry-After fails the call, and the orchestrator retries the task later. */
  maxWaitMs: number;
  signal: AbortSignal;
  /** The error to throw when the signal aborts during a wait. */
  stopped: () => unknown;
  /** Keeps the task's lease through a wait (called before it and every HEARTBEAT_MS of it). */
  heartbeat?: () => Promise<void>;
  /** Told of each repeat before its wait (for the log). */
  onRetry?: (attempt: number, waitMs: number, error: ConnectorError) => void;
}

/**
 * Runs `call`, repeating it inline while it fails with a retryable ConnectorError: after the error's
 * Retry-After, or a short jittered backoff (200 ms, 400 ms, ...), as long as that wait is at most
 * maxWaitMs and repeats are left. A task of many calls then survives a passing fault in one of them
 * without starting over (its next attempt would repeat every call before it). Only calls that are safe
 * to repeat may use it: reads, and writes Stripe replays by idempotency key. The lease is kept through
 * the wait: a task that lost it would start over at once, before Retry-After had passed.
 */
export async function withInlineRetry<T>(call: () => Promise<T>, o: InlineRetry): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ConnectorError) || !error.retryable || o.signal.aborted || attempt >= o.retries) throw error;
      // A NaN or negative retryAfterMs asks for no wait in particular: the backoff applies, never a repeat at once.
      const asked = typeof error.retryAfterMs === "number" && error.retryAfterMs >= 0 ? error.retryAfterMs : undefined;
      const wait = asked ?? Math.round(200 * 2 ** attempt * (0.5 + Math.random()));
      if (wait > o.maxWaitMs) throw error;
      o.onRetry?.(attempt + 1, wait, error);
      for (let left = wait; left > 0; left -= HEARTBEAT_MS) {
        await o.heartbeat?.();
        await delay(Math.min(left, HEARTBEAT_MS), undefined, { signal: o.signal }).catch(() => {
          throw o.stopped();
        });
      }
    }
  }
}
