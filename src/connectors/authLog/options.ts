import { IDENTIFIER } from "../sql/config";
import { plainHttpProblem, plaintextHosts } from "../../config/transport";
import { connectionProblems, type SqlConnection } from "../sql/database";

/** Options every store shares. */
export interface AuthLogCommonOptions {
  /** Connector name, 2-40 lower-case letters, digits or dashes (default `auth-log`). */
  name?: string;
  /**
   * Events per page read (collect and erase): 1-5000, default 500 (AUTH_LOG_PAGE_SIZE). On DynamoDB a page
   * of 1000 made a 200,000-event collect peak 30 MB higher (297-301 MB against 264-266 MB, bench/subject)
   * for 10-20% less time: a page's parsed items outlive the next call and are promoted as garbage.
   */
  pageSize?: number;
  /** Least time between two heartbeats during long work, in ms (default 2000; 0 beats after every page). */
  heartbeatEveryMs?: number;
}

/** The production store: a DynamoDB table keyed by user id (partition) and `<instant>#<event id>` (sort). */
export interface DynamoAuthLogOptions extends AuthLogCommonOptions {
  store: "dynamodb";
  /** The table's name. */
  tableName: string;
  /** AWS region of the table, e.g. `eu-west-1`. */
  region: string;
  /** Another endpoint than AWS's (a local DynamoDB-compatible server), e.g. `http://127.0.0.1:8000`. */
  endpoint?: string;
  /** Secret: access key id; without it the SDK's default chain (environment, profile, instance role) is used. */
  accessKeyId?: string;
  /** Secret: the access key's secret, given together with accessKeyId. */
  secretAccessKey?: string;
  /** Secret: session token of temporary credentials, with accessKeyId and secretAccessKey. */
  sessionToken?: string;
  /** Name of the partition-key attribute holding the user id (default `userId`). */
  partitionKey?: string;
  /** Name of the sort-key attribute holding `<ISO instant>#<event id>` (default `sk`). */
  sortKey?: string;
  /**
   * Strongly consistent reads for collect (an export, and the survey and the check around an erasure)
   * and the roster's Scan: default true. An eventually consistent read may miss what was written in
   * about the last second (DynamoDB's documentation), such as the sign-in that preceded a deletion from
   * the settings page, and then a deletion's plan and its check after erasing both miss it. false halves
   * the read capacity those reads use. The erasure's own reads (the keys it deletes, the count of what it
   * keeps) are strongly consistent whatever this says: what they miss would stay, or be miscounted.
   */
  consistentRead?: boolean;
  /** Hosts `endpoint` may reach over plain http besides loopback (the service passes DSR_PLAINTEXT_HOSTS). */
  plaintextHosts?: readonly string[];
  /** DeleteItem calls in flight during erase (one per event, see dynamoDeletes.ts): 1-32, default 16. */
  deleteConcurrency?: number;
  /** Attempts per read, the SDK's own retries of throttling and 5xx included: 1-10, default 3 (deletes are sent once a call, and resent by the store: unprocessedRetries). */
  maxAttempts?: number;
  /** Time a call may take to connect, and to be answered, in ms (default 10000): a read past it fails retryably (dynamoStore.ts). */
  timeoutMs?: number;
  /** Rounds of resending a throttled delete before the erase fails retryably: 0-20, default 8. */
  unprocessedRetries?: number;
  /** Backoff between those rounds: first delay in ms (default 50), doubling with jitter... */
  backoffBaseMs?: number;
  /** ...up to this cap in ms (default 5000). */
  backoffMaxMs?: number;
}

/** The embedded store: a table in a SQL database (SQLite, MySQL, MariaDB; PostgreSQL is refused), see src/sample/authLog.ts. */
export interface SqlAuthLogOptions extends AuthLogCommonOptions, SqlConnection {
  store: "sql";
  /** The table's name (default `auth_events`); its columns are listed in sqlStore.ts. */
  table?: string;
}

/** How to build the auth-log connector: the store decides which other options apply. */
export type AuthLogOptions = DynamoAuthLogOptions | SqlAuthLogOptions;

export const DEFAULT_NAME = "auth-log";
export const DEFAULT_SQL_TABLE = "auth_events";

const COMMON = ["store", "name", "pageSize", "heartbeatEveryMs"];
const DYNAMO = [
  ...COMMON,
  ...["tableName", "region", "endpoint", "accessKeyId", "secretAccessKey", "sessionToken", "partitionKey", "sortKey", "consistentRead"],
  ...["deleteConcurrency", "maxAttempts", "timeoutMs", "unprocessedRetries", "backoffBaseMs", "backoffMaxMs", "plaintextHosts"],
];
const SQL = [...COMMON, "dataSource", "url", "timeoutMs", "table", "plaintextHosts"];
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const REGION = /^[a-z0-9-]{2,32}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function wholeNumber(o: Record<string, unknown>, field: string, min: number, max: number): string[] {
  const v = o[field];
  if (v === undefined) return [];
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? [] : [`${field} must be a whole number from ${min} to ${max}`];
}

function dynamoProblems(o: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (typeof o.tableName !== "string" || !TABLE_NAME.test(o.tableName)) problems.push("tableName is required: 3-255 letters, digits, dots, dashes or underscores");
  if (typeof o.region !== "string" || !REGION.test(o.region)) problems.push("region is required, e.g. eu-west-1");
  if (o.endpoint !== undefined && (typeof o.endpoint !== "string" || !/^https?:\/\/[^/\s]+\/?$/.test(o.endpoint))) problems.push("endpoint must be an http(s) URL without a path, e.g. http://127.0.0.1:8000");
  else {
    const plain = plainHttpProblem("endpoint", o.endpoint as string | undefined, "the person's sign-in events and the signed requests", plaintextHosts(o.plaintextHosts as string[] | undefined));
    if (plain) problems.push(plain);
  }
  const secrets = ["accessKeyId", "secretAccessKey", "sessionToken"].filter((f) => o[f] !== undefined);
  for (const f of secrets) if (typeof o[f] !== "string" || o[f] === "") problems.push(`${f} must be a non-empty string`);
  if (secrets.length && !(secrets.includes("accessKeyId") && secrets.includes("secretAccessKey"))) {
    problems.push("give accessKeyId and secretAccessKey together (or neither, to use the SDK's default credentials)");
  }
  for (const f of ["partitionKey", "sortKey"]) if (o[f] !== undefined && (typeof o[f] !== "string" || o[f] === "" || (o[f] as string).length > 255)) problems.push(`${f} must be an attribute name of 1-255 characters`);
  if (o.partitionKey !== undefined && o.partitionKey === o.sortKey) problems.push("partitionKey and sortKey must differ");
  if (o.consistentRead !== undefined && typeof o.consistentRead !== "boolean") problems.push("consistentRead must be true or false");
  problems.push(
    ...wholeNumber(o, "deleteConcurrency", 1, 32),
    ...wholeNumber(o, "maxAttempts", 1, 10),
    ...wholeNumber(o, "timeoutMs", 1, 300_000),
    ...wholeNumber(o, "unprocessedRetries", 0, 20),
    ...wholeNumber(o, "backoffBaseMs", 0, 60_000),
    ...wholeNumber(o, "backoffMaxMs", 0, 300_000),
  );
  return problems;
}

function sqlProblems(o: Record<string, unknown>): string[] {
  const problems = connectionProblems(o as SqlConnection);
  // The store's exact user-id match and its statements are SQLite's and MySQL's: on PostgreSQL every
  // collect and erase would be refused (a syntax error) after a check that passed.
  const type = (o.dataSource as { options?: { type?: unknown } } | undefined)?.options?.type;
  if ((typeof o.url === "string" && /^postgres(ql)?:/i.test(o.url)) || type === "postgres") problems.push("the sql store runs on SQLite, MySQL or MariaDB, not PostgreSQL");
  if (o.table !== undefined && (typeof o.table !== "string" || !IDENTIFIER.test(o.table))) problems.push("table must be a plain identifier (letters, digits, underscore)");
  return problems;
}

/** Every problem of the options (empty when valid); never echoes a value, as some are secrets. */
export function authLogOptionProblems(options: unknown): string[] {
  if (!isObject(options)) return ["options must be an object"];
  const allowed = options.store === "dynamodb" ? DYNAMO : options.store === "sql" ? SQL : undefined;
  if (!allowed) return [`store must be "dynamodb" or "sql"`];
  const problems = Object.keys(options)
    .filter((k) => !allowed.includes(k))
    .map((k) => `unknown option "${k}" for store ${String(options.store)} (allowed: ${allowed.join(", ")})`);
  problems.push(...wholeNumber(options, "pageSize", 1, 5000), ...wholeNumber(options, "heartbeatEveryMs", 0, 60_000));
  problems.push(...(options.store === "dynamodb" ? dynamoProblems(options) : sqlProblems(options)));
  return problems;
}

/** The default events per page, on either store. */
export const AUTH_LOG_PAGE_SIZE = 500;
