import { raceAbort } from "../connectors/sdk";

/** Why a running task was stopped from outside. */
export type StopReason = "shutdown" | "lease-lost" | "timeout";

export class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`task stopped: ${reason}`);
  }
}

/** Races work against the abort signal, so a connector that ignores the signal cannot hold the worker. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return raceAbort(() => work, signal, () => new Stopped(signal.reason as StopReason));
}
