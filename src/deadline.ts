/**
 * A time limit as an AbortSignal that fires when it is due, and a clear() to call when the work ended.
 *
 * Why not AbortSignal.timeout: on Node 20, a timeout signal given to AbortSignal.any is held only
 * weakly by the combined signal; once nothing else refers to it, a garbage collection drops it and it
 * never fires, so a call it bounds (a receiver that accepts the connection and never answers, a body
 * that trickles for ever) waits for good. A timer of our own is held by the event loop until cleared.
 * test/deadline.test.ts pins that behaviour of Node's, so a runtime that fixes it says so.
 */
export function deadline(ms: number, what = `no answer within ${ms} ms`): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(what, "TimeoutError")), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
