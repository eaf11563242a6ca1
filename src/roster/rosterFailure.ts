import { ConnectorError } from "../connectors/sdk";
import { classifyDbError } from "../connectors/sql/errors";

/** Why an attempt at a roster failed, and whether another attempt can succeed. */
export interface RosterFailure {
  /** What lastError says (never a path, SQL or a value). */
  reason: string;
  retryable: boolean;
  /** The wait a remote system asked for (a connector's Retry-After). */
  retryAfterMs?: number;
}

/** File-system errors a later attempt can get past: a full disk, too many open files, a busy or hung device. */
const FS_TRANSIENT = new Set(["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "EBUSY", "EAGAIN", "EINTR", "EIO", "ETIMEDOUT"]);
/** File-system errors that stay until someone fixes the folder: permissions, a read-only disk, a folder that is a file. */
const FS_FOR_GOOD = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EISDIR", "EEXIST", "ELOOP", "ENAMETOOLONG", "EXDEV"]);

const FIX = "not retried: it would fail the same way. Fix it and start a new roster";

/**
 * What an attempt's failure means. A connector says itself whether it is worth retrying; the service's
 * own storage and database are judged by their codes: only what can succeed later (a full disk, a busy
 * or unreachable database, a storage server's 5xx or throttling) is retried, while a permission error,
 * a folder that is a file, a bucket that refuses or a statement the database refuses fail the roster at
 * once, saying so, rather than take three attempts to fail the same way. Anything else is retried, as
 * an unexpected task failure is.
 */
export function rosterFailure(error: unknown): RosterFailure {
  if (error instanceof ConnectorError) return { reason: error.userMessage, retryable: error.retryable, retryAfterMs: error.retryAfterMs };
  const e = (error ?? {}) as { code?: unknown; name?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: unknown }; driverError?: unknown; sqlState?: unknown; errno?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  if (code && FS_TRANSIENT.has(code)) return { reason: `the roster's files could not be written (${code}); will retry`, retryable: true };
  if (code && FS_FOR_GOOD.has(code)) return { reason: `the roster's files could not be written (${code}: export storage or the temporary folder is not writable); ${FIX}`, retryable: false };
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  if (status !== undefined) {
    const name = typeof e.name === "string" ? e.name : `HTTP ${status}`;
    if (e.$retryable || status >= 500 || status === 429 || status === 408) return { reason: `export storage is unavailable (${name}); will retry`, retryable: true };
    return { reason: `export storage refused the roster's file (${name}); ${FIX}`, retryable: false };
  }
  // The service's own database (TypeORM's QueryFailedError carries the driver's error).
  if (e.driverError !== undefined || typeof e.sqlState === "string" || (error instanceof Error && error.name === "QueryFailedError")) {
    const kind = classifyDbError(error);
    if (kind.transient) return { reason: `the service's database is unreachable or busy (${kind.code}); will retry`, retryable: true };
    return { reason: `the service's database refused a statement of the roster (${kind.code}); ${FIX}`, retryable: false };
  }
  return { reason: "the listing failed (see the service log)", retryable: true };
}
