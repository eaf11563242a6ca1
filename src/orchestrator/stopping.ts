import { raceAbort } from "../connectors/sdk";

/** Why a running task was stopped from outside. */
export type StopReason = "shutdown" | "lease-lost" | "timeout";

export class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`task stopped: ${reason}`);
  }
}

/**
 * Races work against the abort signal, so a connector that ignores the signal cannot hold the worker.
 * The work has already started: when the signal has aborted before (a lease lost between two steps of
 * a task), its outcome is dropped here too. Unobserved, a connector's failure (most likely, given the
 * aborted signal it was handed) would be an unhandled rejection, which ends the Node.js process.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return raceAbort(() => work, signal, () => new Stopped(signal.reason as StopReason));
}
