/**
 * The closed set of error codes the API returns in `extensions.code`. Anything thrown that is not a
 * DsrError is masked as INTERNAL_SERVER_ERROR at the edge and logged with its detail.
 */
export const ERROR_CODES = [
  "BAD_USER_INPUT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "INTERNAL_SERVER_ERROR",
  // Not "your operation is wrong" but "the same operation works later": clients retry after Retry-After.
  "RATE_LIMITED",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** One offending input field and what is wrong with it (never its value). */
export interface FieldProblem {
  field: string;
  messages: string[];
}

export class DsrError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** Shown to the caller: says what is wrong and what to do, without internals. */
    readonly userMessage: string,
    readonly extra: { fields?: FieldProblem[]; [key: string]: unknown } = {},
  ) {
    super(userMessage);
    this.name = "DsrError";
  }
}

export const badInput = (message: string, fields: FieldProblem[] = [], extra: Record<string, unknown> = {}) => new DsrError("BAD_USER_INPUT", message, { fields, ...extra });
export const badField = (field: string, message: string, extra: Record<string, unknown> = {}) =>
  new DsrError("BAD_USER_INPUT", message, { fields: [{ field, messages: [message] }], ...extra });
export const unauthenticated = (message = "A valid bearer token is required (Authorization: Bearer <token>)") =>
  new DsrError("UNAUTHENTICATED", message);
export const forbidden = (message = "Your role is not allowed to do this") => new DsrError("FORBIDDEN", message);
export const notFound = (what: string, id: string) => new DsrError("NOT_FOUND", `${what} ${id} does not exist`);
export const conflict = (message: string, extra: Record<string, unknown> = {}) => new DsrError("CONFLICT", message, extra);
/**
 * The database refused a transaction for concurrent work (a deadlock or lock wait past its retries, a
 * file another process kept locked past SQLITE_LOCK_WAIT_MS): it was rolled back, so nothing of it changed, and the same
 * operation works later. `retryable` tells it from a CONFLICT that says the operation itself is wrong.
 */
export const databaseBusy = (cause: unknown) =>
  Object.assign(conflict("The database was busy with other changes and did not record this; nothing changed. Send the same operation again in a moment.", { retryable: true }), { cause });
