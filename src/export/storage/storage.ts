import type { Readable } from "node:stream";

/** Where encrypted exports are kept. Objects are written once and read whole; keys are relative paths. */
export interface ExportStorage {
  readonly kind: "local" | "s3";
  /** Writes the stream to `key`, replacing anything there; resolves once it is durably stored. */
  put(key: string, body: Readable): Promise<void>;
  /** Reads the object, or throws ExportNotStoredError when there is none. */
  get(key: string): Promise<Readable>;
  /** Removes it; nothing there is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Whether a write could be stored now (within `timeoutMs`): null when it could, else what is wrong in
   * words and the setting to look at. `/readyz` asks it, so a process does not answer ready while every
   * export (and audit checkpoint, kept in the same place) would fail.
   */
  unusable(timeoutMs?: number): Promise<StorageProblem | null>;
}

/** Why the export storage cannot be used: the setting to look at, whether it is a wrong setting or a failure now, in words. */
export interface StorageProblem {
  setting: string;
  configuration: boolean;
  reason: string;
}

export class ExportNotStoredError extends Error {
  constructor(key: string) {
    super(`no stored export at ${key}`);
  }
}
