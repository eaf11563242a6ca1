import { setImmediate as nextTurn } from "node:timers/promises";

/** Longest stretch of work between two turns of the event loop that a long loop allows itself. */
export const TURN_BUDGET_MS = 10;

let lastTurn = performance.now();

/**
 * Lets the event loop take a turn (timers, sockets: /healthz, GraphQL, heartbeats) once TURN_BUDGET_MS
 * passed since the last time any caller did; otherwise returns at once. Long loops call it per unit of
 * work. Awaiting is not enough by itself: better-sqlite3 answers synchronously, so a loop of awaited
 * queries runs as one chain of microtasks and the loop never turns (a 2,000,000-event collect held the
 * process for nine minutes that way).
 */
export async function breathe(): Promise<void> {
  if (!turnDue()) return;
  await nextTurn();
  lastTurn = performance.now();
}

/**
 * Whether breathe() would let the loop turn now. A loop that runs once per record asks this first and
 * awaits breathe() only then: an await per record costs a promise each (and, with the statement
 * queue's AsyncLocalStorage on, a hook call each), a second or so over a 2,000,000-record collect.
 */
export function turnDue(): boolean {
  return performance.now() - lastTurn >= TURN_BUDGET_MS;
}

/**
 * `work`, called at most once per `everyMs` on the monotonic clock (a wall clock stepped back would stop
 * it for as long as the step): the first call after `everyMs` has passed since the last one (or since
 * this was made) runs it, the others return at once. Long work paces its lease heartbeats with it.
 */
export function paced(everyMs: number, work: () => Promise<void>): () => Promise<void> {
  let last = performance.now();
  return async () => {
    const now = performance.now();
    if (now - last < everyMs) return;
    last = now;
    await work();
  };
}
