import { ConnectorError } from "../sdk";
import { POSTGRES_MISSING, POSTGRES_TRANSIENT, POSTGRES_TRANSIENT_MESSAGE } from "./postgres";

/** The calls of the connector, named in error messages (`roster`: listSubjects, for a breach roster). */
export type Operation = "check" | "resolve" | "collect" | "erase" | "rectify" | "roster";

/** What a database error means for the task, read from the driver's codes (never from its SQL). */
export interface DbErrorKind {
  /** Driver code, e.g. ECONNREFUSED, ER_LOCK_DEADLOCK, SQLITE_BUSY, 40P01 (PostgreSQL's SQLSTATE); safe to show. */
  code: string;
  /** Worth retrying: the database was unreachable, busy or chose this statement as a deadlock victim. */
  transient: boolean;
  /** The configuration names a table or column the database does not have. */
  missing: "table" | "column" | null;
  /** The driver's message without SQL or values: for the log only. */
  detail: string;
  /** A DELETE or UPDATE refused because rows of another table refer to the row (a foreign key). */
  referenced: boolean;
  /** A value refused by its column: wrong type, too long, out of range, NULL where none is allowed, a CHECK constraint. */
  invalidValue: boolean;
}

/**
 * A value its column refuses: MySQL/MariaDB (incorrect value, too long, out of range, truncated, NULL,
 * CHECK), SQLite (CHECK, NOT NULL, a STRICT table's type, too big), PostgreSQL (class 22, data
 * exception; not_null_violation; check_violation).
 */
const INVALID_VALUE_CODES = new Set([
  "ER_TRUNCATED_WRONG_VALUE",
  "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD",
  "ER_DATA_TOO_LONG",
  "ER_WARN_DATA_OUT_OF_RANGE",
  "WARN_DATA_TRUNCATED",
  "ER_BAD_NULL_ERROR",
  "ER_CHECK_CONSTRAINT_VIOLATED",
  "ER_CONSTRAINT_FAILED",
  "SQLITE_CONSTRAINT_CHECK",
  "SQLITE_CONSTRAINT_NOTNULL",
  "SQLITE_CONSTRAINT_DATATYPE",
  "SQLITE_MISMATCH",
  "SQLITE_TOOBIG",
  "23502",
  "23514",
]);
const isInvalidValueCode = (code: string) => INVALID_VALUE_CODES.has(code) || /^22[0-9A-Z]{3}$/.test(code);

/** Foreign-key refusals of a DELETE or UPDATE of a referenced row: MySQL/MariaDB, SQLite, PostgreSQL (foreign_key_violation). */
const REFERENCED_CODES = new Set(["ER_ROW_IS_REFERENCED", "ER_ROW_IS_REFERENCED_2", "SQLITE_CONSTRAINT_FOREIGNKEY", "23503"]);

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_LOCK_DEADLOCK",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_CONNECTION_KILLED",
]);
// MySQL/MariaDB error numbers for the same conditions (lock wait, deadlock, too many connections,
// shutdown, connection killed) and the client's "can't connect" / "server has gone away" / "lost".
const TRANSIENT_ERRNOS = new Set([1205, 1213, 1040, 1053, 1927, 2002, 2003, 2006, 2013]);

/** Every error in a chain: TypeORM's QueryFailedError wraps the driver's, Node wraps sockets in AggregateError. */
function chain(error: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== "object" || depth > 4 || out.includes(e as Record<string, unknown>)) return;
    const record = e as Record<string, unknown>;
    out.push(record);
    visit(record.driverError, depth + 1);
    visit(record.cause, depth + 1);
    if (Array.isArray(record.errors)) for (const inner of record.errors) visit(inner, depth + 1);
  };
  visit(error, 0);
  return out;
}

/** Drops the parts of driver messages that can carry values (MySQL quotes the offending SQL and duplicate keys). */
function redact(message: string): string {
  return message
    .replace(/near '[\s\S]*$/, "near <sql redacted>")
    .replace(/Duplicate entry '[\s\S]*?' for key/, "Duplicate entry <redacted> for key")
    // A value its column refused: MySQL "Incorrect integer value: '...' for column", PostgreSQL
    // 'invalid input syntax for type integer: "..."', 'value "..." is out of range'.
    .replace(/value: '[\s\S]*?' for column/g, "value: <redacted> for column")
    .replace(/(invalid input (?:syntax|value) for [^:]*): [\s\S]*$/, "$1: <redacted>")
    .replace(/value "[\s\S]*?" is out of range/g, "value <redacted> is out of range")
    .slice(0, 300);
}

/** Classifies a database error by its codes. */
export function classifyDbError(error: unknown): DbErrorKind {
  const errors = chain(error);
  const codes = errors.map((e) => e.code).filter((c): c is string => typeof c === "string");
  const errnos = errors.map((e) => e.errno).filter((n): n is number => typeof n === "number");
  const messages = errors.map((e) => (typeof e.sqlMessage === "string" ? e.sqlMessage : typeof e.message === "string" ? e.message : "")).filter(Boolean);
  const code = codes.find((c) => c !== "ERR_UNKNOWN") ?? (errnos.length ? `errno ${errnos[0]}` : "UNKNOWN");
  const transient =
    codes.some((c) => TRANSIENT_CODES.has(c) || POSTGRES_TRANSIENT.has(c) || c.startsWith("SQLITE_BUSY") || c.startsWith("SQLITE_LOCKED")) ||
    errnos.some((n) => TRANSIENT_ERRNOS.has(n)) ||
    messages.some((m) => POSTGRES_TRANSIENT_MESSAGE.test(m));
  const text = messages.join(" | ");
  const postgresMissing = codes.map((c) => POSTGRES_MISSING[c]).find(Boolean);
  const missing =
    codes.includes("ER_NO_SUCH_TABLE") || postgresMissing === "table" || /no such table/i.test(text)
      ? "table"
      : codes.includes("ER_BAD_FIELD_ERROR") || postgresMissing === "column" || /no such column|unknown column/i.test(text)
        ? "column"
        : null;
  return { code, transient, missing, detail: redact(messages[0] ?? String(error)), referenced: codes.some((c) => REFERENCED_CODES.has(c)), invalidValue: codes.some(isInvalidValueCode) };
}

/**
 * Turns anything a database call threw into a ConnectorError. Its userMessage names the connector,
 * the call and the table, never SQL or values; the driver's (redacted) message goes to internalMessage.
 */
export function toConnectorError(error: unknown, connector: string, op: Operation, table?: string): ConnectorError {
  if (error instanceof ConnectorError) return error;
  const kind = classifyDbError(error);
  const where = table ? ` (table ${table})` : "";
  const internal = `${connector} ${op}${where}: ${kind.code}: ${kind.detail}`;
  if (kind.transient) return new ConnectorError(`${connector}: the database is unreachable or busy (${kind.code}); the task will be retried`, internal, true);
  if (kind.missing) {
    return new ConnectorError(
      `${connector}: ${table ? `table ${table} or one of its configured columns` : "a configured table or column"} does not exist; fix the connector configuration or the database schema`,
      internal,
      false,
    );
  }
  if (kind.referenced && op === "erase") {
    // Most often rows kept under retention or a hold (sessions of the last 90 days) that still name the account.
    return new ConnectorError(
      `${connector}: the database refused the erase${where} (${kind.code}): rows of another table still refer to the person's rows there (records kept under retention or a hold, or a table the configuration does not name), so its rows there stay; tables erased before it stay erased. Details are in the service log`,
      internal,
      false,
    );
  }
  if (kind.invalidValue && op === "rectify") {
    // The correction asked for a value this system cannot hold: retrying would be refused the same way.
    return new ConnectorError(
      `${connector}: the database refused a corrected value${where} (${kind.code}): it does not fit its column (type, length, range or a constraint), so that table's fields were not changed; tables corrected before it stay corrected. Submit a correction with a value this system accepts`,
      internal,
      false,
    );
  }
  if (kind.code === "22P02" || kind.code === "22003") {
    // A look-up by a value the column's type cannot hold: asked again it is refused again. The value is named nowhere.
    return new ConnectorError(
      `${connector}: the ${op} looked rows up${where} by a value its column cannot hold (${kind.code}: not of the column's type, such as a user id with letters for an INTEGER column, or past its range); no row there can hold it. Check the request's identities, or the identityKind configured for that column [${IDENTITY_TYPE}]`,
      internal,
      false,
    );
  }
  return new ConnectorError(`${connector}: the database refused the ${op}${where} (${kind.code}); details are in the service log`, internal, false);
}

/** Code of the error a look-up fails with when a column's type cannot hold the value asked of it. */
export const IDENTITY_TYPE = "SQL_IDENTITY_TYPE";

/**
 * PostgreSQL's refusal of a value its column's type cannot read, asked of it (`usr_a7` of an INTEGER
 * column: 22P02; digits past its range: 22003), as toConnectorError made it. MySQL and SQLite convert
 * instead, and find no row: no row can hold such a value.
 */
export const unreadableByColumn = (error: unknown): boolean => error instanceof ConnectorError && /: (22P02|22003):/.test(error.internalMessage);

/** Thrown between chunks when the task must stop (lease lost, shutdown): the work resumes on the next attempt. */
export function stopped(connector: string, op: Operation, signal: AbortSignal): ConnectorError {
  return new ConnectorError(`${connector}: the ${op} was stopped before it finished; it resumes on the next attempt`, `aborted: ${String(signal.reason)}`, true);
}
