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
}

export class ExportNotStoredError extends Error {
  constructor(key: string) {
    super(`no stored export at ${key}`);
  }
}
