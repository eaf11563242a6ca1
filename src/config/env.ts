import { createPrivateKey } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseRetentionRules, RetentionRule } from "../domain/retention";
import { listenerTlsProblems, mysqlTls, type MysqlTls, plainHttpProblem, plaintextHosts } from "./transport";
import { plainToInstance, Transform } from "class-transformer";
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MinLength,
  Min,
  ValidateIf,
  validateSync,
  ValidationError,
} from "class-validator";

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === "" ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }) =>
  value === undefined || value === "" ? undefined : value === "true" || value === "1" ? true : value === "false" || value === "0" ? false : value;

/**
 * Every setting the service reads, validated once at boot. Names are the environment variables;
 * anything that is not PORT, NODE_ENV or DATABASE_URL is prefixed DSR_.
 */
export class Env {
  /** development | test | production. Production turns off introspection and refuses unsafe defaults. */
  @IsIn(["development", "test", "production"])
  NODE_ENV: "development" | "test" | "production" = "development";

  /** TCP port of the HTTP server (GraphQL at /graphql). 0 picks a free port. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 4000;

  /** Interface to listen on. */
  @IsString()
  DSR_HOST = "0.0.0.0";

  /** mysql://user:pass@host:port/db (MySQL 8 / MariaDB through mysql2) or sqlite:<file>. Unset: SQLite file in DSR_DATA_DIR. */
  @IsOptional()
  @Matches(/^(mysql|mariadb):\/\/[^/]+\/[A-Za-z0-9_$-]+(\?.*)?$|^sqlite:.+$/, {
    message: "DATABASE_URL must look like mysql://user:password@host:3306/database or sqlite:<path>",
  })
  DATABASE_URL?: string;

  /** Local data folder: the embedded SQLite file, generated secrets, and (later) local exports. */
  @IsString()
  @MinLength(1)
  DSR_DATA_DIR = "./data";

  /** pino level. */
  @IsIn(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
  DSR_LOG_LEVEL = "info";

  /** Server-side secret (at least 32 characters) keying verification-code hashes. Required in production; generated into the data folder otherwise. */
  @ValidateIf((env: Env) => env.NODE_ENV === "production" || env.DSR_SECRET !== undefined)
  @IsString({ message: "DSR_SECRET is required in production (at least 32 characters)" })
  @MinLength(32, { message: "DSR_SECRET must be at least 32 characters" })
  DSR_SECRET?: string;

  /** Seeds one ADMIN token (at least 24 characters) for a new installation; harmless once it exists. */
  @IsOptional()
  @IsString()
  @MinLength(24, { message: "DSR_BOOTSTRAP_ADMIN_TOKEN must be at least 24 characters" })
  DSR_BOOTSTRAP_ADMIN_TOKEN?: string;

  /** Run pending migrations when the service starts (otherwise run `dsr migrate`). */
  @Transform(toBool)
  @IsBoolean()
  DSR_MIGRATE_ON_START = true;

  /** How long a verification code stays valid, in minutes. */
  @Transform(toInt)
  @IsInt()
  @Min(5)
  @Max(60 * 24 * 7)
  DSR_VERIFICATION_TTL_MINUTES = 60 * 24;

  /** Wrong codes accepted before the code is locked and a new one must be issued. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  DSR_VERIFICATION_MAX_ATTEMPTS = 5;

  /**
   * One-time codes sent to one address within 24 hours, across all its requests (each request submitted
   * for a code, each resend). A 6-digit code with DSR_VERIFICATION_MAX_ATTEMPTS guesses is safe only
   * while codes are few: without a cap, resending and guessing at the API's rate limit verifies a
   * stranger's address within days. Past it, submitRequest and resendVerificationCode answer
   * RATE_LIMITED (reason VERIFICATION_CODE_LIMIT); a request a trusted caller vouches for needs no code.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  DSR_VERIFICATION_CODES_PER_DAY = 10;

  /** How verification codes reach the data subject: log (development only) or webhook (POST to DSR_NOTIFIER_URL). */
  @IsIn(["log", "webhook"])
  @ValidateIf((env: Env) => env.NODE_ENV !== "production" || env.DSR_NOTIFIER !== "log")
  DSR_NOTIFIER: "log" | "webhook" = "log";

  /** Endpoint of the webhook notifier (your mail/SMS sender). */
  @ValidateIf((env: Env) => env.DSR_NOTIFIER === "webhook")
  @IsUrl({ require_tld: false, protocols: ["http", "https"] }, { message: "DSR_NOTIFIER_URL must be an http(s) URL when DSR_NOTIFIER=webhook" })
  DSR_NOTIFIER_URL?: string;

  /** Secret that signs webhook notifications (HMAC-SHA256, header Dsr-Signature). */
  @ValidateIf((env: Env) => env.DSR_NOTIFIER === "webhook")
  @IsString({ message: "DSR_NOTIFIER_SECRET is required when DSR_NOTIFIER=webhook" })
  @MinLength(16, { message: "DSR_NOTIFIER_SECRET must be at least 16 characters" })
  DSR_NOTIFIER_SECRET?: string;

  /** Largest accepted HTTP request body, in bytes. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(10 * 1024 * 1024)
  DSR_BODY_LIMIT_BYTES = 100 * 1024;

  /**
   * Where this service processes personal data (its primary processing location): an ISO 3166-1 alpha-2
   * country code. Each connector records where its system processes data (processingLocation); those
   * elsewhere are marked outside it.
   */
  @Matches(/^[A-Z]{2}$/, { message: "DSR_PROCESSING_LOCATION must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN" })
  DSR_PROCESSING_LOCATION = "IN";

  /** JSON file registering this installation's connectors (see docs/connectors.md); secrets come from environment variables it names. */
  @IsOptional()
  @IsString()
  DSR_CONNECTORS_FILE?: string;

  /**
   * Run the sample workspace: seeded sample systems on loopback behind the four built-in connectors, so a
   * request goes through end to end with no external system. Default: on in development when no
   * DSR_CONNECTORS_FILE is set; never in production.
   */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  DSR_SAMPLE_WORKSPACE?: boolean;

  /**
   * Retention rules replacing the defaults of their category (POLICY.md), as a JSON array: e.g.
   * `[{"category":"AUTH_LOGS","period":"180 days","legalBasis":"fraud prevention","basisKind":"LEGITIMATE_INTEREST"}]`.
   */
  @IsOptional()
  @IsString()
  DSR_RETENTION_RULES?: string;

  /** Auth-log events the sample workspace seeds for Ada (the big subject); tests seed fewer. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  DSR_SAMPLE_ADA_AUTH_EVENTS = 100_000;

  /** Tasks the in-process worker runs at once; 0 runs no worker in `serve` (use `dsr worker` processes). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(256)
  DSR_WORKER_CONCURRENCY = 4;

  /** How long a claimed task stays leased without a heartbeat, in ms. */
  @Transform(toInt)
  @IsInt()
  @Min(200)
  @Max(60 * 60_000)
  DSR_TASK_LEASE_MS = 30_000;

  /** How often an idle worker looks for runnable tasks, in ms. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60_000)
  DSR_WORKER_POLL_MS = 500;

  /**
   * Wake-ups across processes (MySQL): each worker listens for signed UDP wakes, and whatever makes
   * work runnable (an approval, a retry) sends them, so workers in other processes start it at once
   * instead of at their next poll. false: polling only.
   */
  @Transform(toBool)
  @IsBoolean()
  DSR_WAKE_ENABLED = true;

  /** Address a worker's wake socket binds (UDP). Loopback by default: workers on other hosts need an address they can reach, and DSR_WAKE_ADVERTISE_HOST when it is 0.0.0.0 or ::. */
  @Matches(/^[0-9A-Fa-f.:]+$/, { message: "DSR_WAKE_HOST must be an IP address, e.g. 127.0.0.1, 10.0.0.5 or 0.0.0.0" })
  DSR_WAKE_HOST = "127.0.0.1";

  /** UDP port of a worker's wake socket; 0 takes a free one (each process lists its own in the database). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65_535)
  DSR_WAKE_PORT = 0;

  /** Address other processes send a worker's wakes to, when it is not DSR_WAKE_HOST (a host name or IP address). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9.:-]{1,253}$/, { message: "DSR_WAKE_ADVERTISE_HOST must be a host name or an IP address" })
  DSR_WAKE_ADVERTISE_HOST?: string;

  /** Attempts a task gets before it is FAILED (retryable errors only). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  DSR_TASK_MAX_ATTEMPTS = 5;

  /** First retry delay, in ms; doubles per attempt (with jitter) up to DSR_RETRY_MAX_MS. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  DSR_RETRY_BASE_MS = 1000;

  /** Longest retry delay, in ms. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(24 * 3_600_000)
  DSR_RETRY_MAX_MS = 300_000;

  /**
   * The longest wait a remote system's Retry-After (429, 503; a connector's retryAfterMs) imposes on a
   * task, a breach roster or a status callback, in ms. A longer one is cut to this (and, for a task of an
   * open request, to the request's due date): the retry comes then, and the task's lastError, the
   * callback's lastError and the log say the system asked for longer. Default one hour.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1_000)
  @Max(7 * 24 * 3_600_000)
  DSR_RETRY_AFTER_MAX_MS = 3_600_000;

  /** A task attempt that runs longer than this is stopped and retried, in seconds. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  DSR_TASK_TIMEOUT_SECONDS = 900;

  /**
   * How long placing a legal hold waits for units of erasure already under way on its categories (a
   * chunk, one remote call) before refusing with CONFLICT, in ms. While it waits no new unit starts.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  DSR_HOLD_WAIT_MS = 5_000;

  /**
   * How far this host's clock may be from the database's, in ms (MySQL/MariaDB; SQLite is one process).
   * Erasure units, hold placements' marks and status-callback claims carry times from the host that
   * wrote them, compared by other hosts: a clock off by more than a hold placement's margin (30 s) or a
   * unit's life could let a hold be placed while a unit of its category erases. Checked when a process
   * starts (it refuses to) and every DSR_CLOCK_CHECK_MS (its worker stops claiming, /readyz answers 503 and hold
   * placements are refused until the clock is back). Never more than half of DSR_TASK_LEASE_MS is used.
   */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(30_000)
  DSR_MAX_CLOCK_SKEW_MS = 2_000;

  /** How often a process measures its clock against the database's again, in ms (see DSR_MAX_CLOCK_SKEW_MS). */
  @Transform(toInt)
  @IsInt()
  @Min(1_000)
  @Max(10 * 60_000)
  DSR_CLOCK_CHECK_MS = 30_000;

  /** Where status callbacks of settings-page account deletions are POSTed; unset: they wait in the outbox, undelivered. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ["http", "https"] }, { message: "DSR_CALLBACK_URL must be an http(s) URL" })
  DSR_CALLBACK_URL?: string;

  /** Secret that signs status callbacks (HMAC-SHA256, header Dsr-Signature); required with DSR_CALLBACK_URL. */
  @ValidateIf((env: Env) => env.DSR_CALLBACK_URL !== undefined || env.DSR_CALLBACK_SECRET !== undefined)
  @IsString({ message: "DSR_CALLBACK_SECRET is required when DSR_CALLBACK_URL is set" })
  @MinLength(16, { message: "DSR_CALLBACK_SECRET must be at least 16 characters" })
  DSR_CALLBACK_SECRET?: string;

  /** How often the callback dispatcher looks for due callbacks, in ms. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60_000)
  DSR_CALLBACK_POLL_MS = 1000;

  /** How long one callback delivery may take, in ms (the receiver's answer); past it the delivery is retried later. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(300_000)
  DSR_CALLBACK_TIMEOUT_MS = 10_000;

  /** First callback retry delay, in ms; doubles per failed attempt (with jitter) up to DSR_CALLBACK_RETRY_MAX_MS, retried until delivered. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  DSR_CALLBACK_RETRY_BASE_MS = 5000;

  /** Longest callback retry delay, in ms. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(24 * 3_600_000)
  DSR_CALLBACK_RETRY_MAX_MS = 3_600_000;

  /** Ed25519 private key (PEM, PKCS#8) signing deletion certificates; unset: one generated into DSR_DATA_DIR (set it in production, so the key survives the folder). */
  @IsOptional()
  @IsString()
  DSR_CERTIFICATE_PRIVATE_KEY?: string;

  /** Seconds given to in-flight HTTP requests on SIGTERM before connections are closed. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  DSR_SHUTDOWN_GRACE_SECONDS = 10;

  /** GraphQL operations per second each bearer token may sustain (a token bucket per token, per process); 0 turns the limit off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100_000)
  DSR_RATE_LIMIT_PER_SECOND = 50;

  /** Operations a token may send at once after a quiet spell (the bucket's size); 0 turns the limit off, as DSR_RATE_LIMIT_PER_SECOND=0 does. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  DSR_RATE_LIMIT_BURST = 200;

  /** When set (at least 24 characters), GET /metrics needs `Authorization: Bearer <it>`; unset, /metrics is open (keep it off the public network). */
  @IsOptional()
  @IsString()
  @MinLength(24, { message: "DSR_METRICS_TOKEN must be at least 24 characters" })
  DSR_METRICS_TOKEN?: string;

  /** json (one object per line, for collectors) or pretty (readable lines, for a developer's terminal). Default: pretty in development on a terminal, json otherwise. */
  @IsOptional()
  @IsIn(["json", "pretty"])
  DSR_LOG_FORMAT?: "json" | "pretty";

  /** Base64 of 32 random bytes: the master key that wraps each export's data key. Required in production (unless DSR_KMS_KEY_ID); generated into the data folder otherwise. */
  @ValidateIf((env: Env) => env.DSR_EXPORT_MASTER_KEY !== undefined || (env.NODE_ENV === "production" && !env.DSR_KMS_KEY_ID))
  @Matches(/^[A-Za-z0-9+/]{43}=$/, { message: "DSR_EXPORT_MASTER_KEY must be the base64 of exactly 32 bytes (openssl rand -base64 32); required in production unless DSR_KMS_KEY_ID is set" })
  DSR_EXPORT_MASTER_KEY?: string;

  /** AWS KMS key id or ARN that wraps export data keys instead of the master key (GenerateDataKey / Decrypt). */
  @IsOptional()
  @IsString()
  @MinLength(1)
  DSR_KMS_KEY_ID?: string;

  /** Where encrypted exports are kept: local (DSR_DATA_DIR/exports) or s3 (DSR_S3_BUCKET). */
  @IsIn(["local", "s3"])
  DSR_EXPORT_STORAGE: "local" | "s3" = "local";

  /** S3 bucket of the exports (DSR_EXPORT_STORAGE=s3). */
  @ValidateIf((env: Env) => env.DSR_EXPORT_STORAGE === "s3")
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: "DSR_S3_BUCKET must be an S3 bucket name; required when DSR_EXPORT_STORAGE=s3" })
  DSR_S3_BUCKET?: string;

  /** S3-compatible endpoint (path-style addressing), e.g. http://127.0.0.1:4569; unset: AWS. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ["http", "https"] }, { message: "DSR_S3_ENDPOINT must be an http(s) URL" })
  DSR_S3_ENDPOINT?: string;

  /** AWS region of the bucket and the KMS key. */
  @IsString()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: "DSR_S3_REGION must look like eu-west-1" })
  DSR_S3_REGION = "eu-west-1";

  /** Days an export is kept before the purge deletes it. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(365)
  DSR_EXPORT_RETENTION_DAYS = 30;

  /** Days a breach roster's file is kept before the purge deletes it (the roster's counts stay). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(365)
  DSR_ROSTER_RETENTION_DAYS = 30;

  /** Ed25519 private key (PEM, PKCS#8) signing audit checkpoints; never stored in the database. Unset (and no DSR_AUDIT_SIGNING_KEY_FILE): one generated into DSR_DATA_DIR; required in production. */
  @IsOptional()
  @IsString()
  DSR_AUDIT_SIGNING_KEY?: string;

  /** A file holding that key instead (a mounted secret); every process that writes checkpoints must use the same key. */
  @IsOptional()
  @IsString()
  @MinLength(1)
  DSR_AUDIT_SIGNING_KEY_FILE?: string;

  /** How often this process seals new audit events into a signed checkpoint outside the database, in seconds; 0: never (another process does). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  DSR_AUDIT_CHECKPOINT_SECONDS = 60;

  /** S3 Object Lock on checkpoint files: off, GOVERNANCE or COMPLIANCE (the bucket must have Object Lock enabled). */
  @IsIn(["off", "GOVERNANCE", "COMPLIANCE"], { message: "DSR_AUDIT_OBJECT_LOCK must be off, GOVERNANCE or COMPLIANCE" })
  DSR_AUDIT_OBJECT_LOCK: "off" | "GOVERNANCE" | "COMPLIANCE" = "off";

  /** Days an Object-Locked checkpoint file cannot be deleted or overwritten (default 7 years). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36_500)
  DSR_AUDIT_RETENTION_DAYS = 2557;

  /**
   * Minutes a request's staged records (encrypted) are kept after it ends without an export (FAILED,
   * CANCELLED, REJECTED), so that retrying a failed task does not collect everything again. Also how
   * long after any end its identities are kept (while no retention exception of it is open), and so
   * how long retryTask accepts its failed tasks (orchestrator/identityRetention.ts).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(43_200)
  DSR_STAGED_GRACE_MINUTES = 1440;

  /**
   * Days a request's record keeps the subject's identities (and a correction's requested values) after
   * the request ended, and a released legal hold its subject's email after its release; then the purge
   * removes them and keeps what was done (orchestrator/recordRetention.ts). 730 (24 months): what the
   * CCPA regulations (11 CCR 7101) require a business to keep of consumer requests at least. Never shorter
   * than DSR_STAGED_GRACE_MINUTES (the retry window works from them); a request with an open retention
   * exception keeps them until it closes, whatever this says.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36_500)
  DSR_REQUEST_RECORD_RETENTION_DAYS = 730;

  /**
   * Days after its due date (as extended) that a verified request nobody approved or rejected
   * (PENDING_APPROVAL) waits; then the worker closes it, REJECTED by the system with a reason saying so
   * (orchestrator/unverifiedRequests.ts), and its record's personal data goes after
   * DSR_REQUEST_RECORD_RETENTION_DAYS like any ended request's. Waiting for ever, it kept the person's
   * identities for ever. Past its due date it is overdue (dsr_requests_overdue) the whole time.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_650)
  DSR_UNDECIDED_GRACE_DAYS = 30;

  /**
   * Days after its due date (as extended) that an approved request's manual task nobody completed
   * (AWAITING_INPUT, completeManualTask) waits; then the worker FAILS the task, as the system, saying no
   * one completed the step (orchestrator/uncompletedManualTasks.ts): the request ends FAILED, never
   * COMPLETED for work no one did, and its personal data goes after DSR_REQUEST_RECORD_RETENTION_DAYS like
   * any ended request's. Its own setting, not DSR_UNDECIDED_GRACE_DAYS: searching a paper archive may
   * take longer than deciding. Waiting for ever, it kept the person's identities for ever. A retryTask
   * of the lapsed task is refused until extendDeadline moves the due date past it: no retry restarts it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_650)
  DSR_MANUAL_TASK_GRACE_DAYS = 30;

  /** Public base URL of this service, used in export links (e.g. https://dsr.example.com); unset: the address it listens on. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ["http", "https"] }, { message: "DSR_PUBLIC_URL must be an http(s) URL" })
  DSR_PUBLIC_URL?: string;

  /**
   * Hosts (comma-separated) this service may reach without TLS because something else encrypts the way
   * there (a service mesh's mutual TLS sidecar, an IPsec tunnel). Loopback needs no listing. Unset: every
   * other host must be reached over TLS (src/config/transport.ts).
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9.:[\]-]+(,[A-Za-z0-9.:[\]-]+)*$/, { message: "DSR_PLAINTEXT_HOSTS must be host names or addresses separated by commas" })
  DSR_PLAINTEXT_HOSTS?: string;

  /**
   * PEM certificate chain this server presents: with DSR_TLS_KEY_FILE it speaks https itself (GraphQL,
   * export downloads, health, metrics). Unset: plain http, for TLS ended in front of it.
   */
  @IsOptional()
  @IsString()
  DSR_TLS_CERT_FILE?: string;

  /** PEM private key of DSR_TLS_CERT_FILE (read at start; keep it 0600). */
  @IsOptional()
  @IsString()
  DSR_TLS_KEY_FILE?: string;
}

/** Export settings without a default: read from the environment only when set. */
const EXPORT_OPTIONAL = ["DSR_EXPORT_MASTER_KEY", "DSR_KMS_KEY_ID", "DSR_S3_BUCKET", "DSR_S3_ENDPOINT", "DSR_PUBLIC_URL"];

/** The validated configuration, with derived values the rest of the code needs. */
export interface Config extends Env {
  /** Absolute path of the data folder. */
  dataDir: string;
  database: { kind: "sqlite"; file: string } | { kind: "mysql"; url: string; /** Absent: no TLS (what loadConfig gives a loopback host). */ tls?: MysqlTls };
  /** Whether this process runs the sample workspace (DSR_SAMPLE_WORKSPACE, or its default). */
  sampleWorkspace: boolean;
  /** The retention rules in force: the defaults with DSR_RETENTION_RULES applied. */
  retentionRules: RetentionRule[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/**
 * One line per problem. A value that is not a number gets one message saying so: the range it would
 * also break (min, max) means nothing for text.
 */
function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const constraints = { ...(e.constraints ?? {}) };
    if (constraints.isInt && typeof e.value !== "number") {
      for (const range of ["min", "max"]) delete constraints[range];
      constraints.isInt = `${e.property} must be a whole number`;
    }
    return [...Object.values(constraints).map((m) => (m.startsWith(e.property) ? m : `${e.property}: ${m}`)), ...flatten(e.children ?? [])];
  });
}

/** Reads and validates the environment; throws ConfigError listing every problem at once. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(new Env());
  const raw: Record<string, string> = {};
  for (const key of [...known, "DATABASE_URL", ...OPTIONAL_SETTINGS]) {
    const value = source[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const env = plainToInstance(Env, raw, { exposeDefaultValues: true });
  const problems = flatten(validateSync(env, { forbidUnknownValues: false }));
  if (env.NODE_ENV === "production" && env.DSR_NOTIFIER === "log") {
    problems.push("DSR_NOTIFIER=log prints verification codes to the log and is refused in production; use webhook");
  }
  const unknown = Object.keys(source).filter((k) => k.startsWith("DSR_") && !known.includes(k) && !(k in raw) && !KNOWN_OPTIONAL.has(k));
  for (const k of unknown) problems.push(`${k} is not a setting this service knows (check the spelling)`);
  if (env.DSR_WAKE_ENABLED && (env.DSR_WAKE_HOST === "0.0.0.0" || env.DSR_WAKE_HOST === "::") && !env.DSR_WAKE_ADVERTISE_HOST) {
    problems.push(`DSR_WAKE_HOST=${env.DSR_WAKE_HOST} listens on every address; set DSR_WAKE_ADVERTISE_HOST to the one other processes reach this one at`);
  }
  if (env.DSR_SAMPLE_WORKSPACE === true && env.DSR_CONNECTORS_FILE) problems.push("DSR_SAMPLE_WORKSPACE=true and DSR_CONNECTORS_FILE exclude each other: the sample workspace brings its own connectors");
  if (env.DSR_SAMPLE_WORKSPACE === true && env.NODE_ENV === "production") problems.push("DSR_SAMPLE_WORKSPACE cannot run with NODE_ENV=production");
  if (env.NODE_ENV === "production" && env.DSR_PUBLIC_URL === undefined) {
    problems.push("DSR_PUBLIC_URL is required with NODE_ENV=production: export links would otherwise be built from the Host header each caller sent (over plain http, unless DSR_TLS_CERT_FILE makes this server speak https), e.g. https://dsr.example.com");
  }
  const retention = parseRetentionRules(env.DSR_RETENTION_RULES);
  problems.push(...retention.problems);
  problems.push(...certificateKeyProblems(env.DSR_CERTIFICATE_PRIVATE_KEY));
  problems.push(...auditKeyProblems(env));
  // Encryption in transit: what carries a person's data leaves this host over TLS (transport.ts).
  const plain = plaintextHosts(env.DSR_PLAINTEXT_HOSTS);
  for (const problem of [
    plainHttpProblem("DSR_NOTIFIER_URL", env.DSR_NOTIFIER === "webhook" ? env.DSR_NOTIFIER_URL : undefined, "each person's address and verification code", plain),
    plainHttpProblem("DSR_CALLBACK_URL", env.DSR_CALLBACK_URL, "each request's status changes", plain),
    plainHttpProblem("DSR_PUBLIC_URL", env.DSR_PUBLIC_URL, "export links, and the person's data downloaded through them", plain),
  ]) {
    if (problem) problems.push(problem);
  }
  problems.push(...listenerTlsProblems(env.DSR_TLS_CERT_FILE, env.DSR_TLS_KEY_FILE));
  if (env.DATABASE_URL !== undefined && /^(mysql|mariadb):\/\//.test(env.DATABASE_URL) && !URL.canParse(env.DATABASE_URL)) {
    // The pattern above passes it, but every later reader (mysql2 included) would fail on it with "Invalid URL".
    problems.push(
      "DATABASE_URL cannot be read as a URL: check that the port is a number, and that the user name and password are percent-encoded (an @, :, /, ? or # in them written %40, %3A, %2F, %3F, %23)",
    );
  }
  const mysqlUrl = env.DATABASE_URL !== undefined && /^(mysql|mariadb):\/\//.test(env.DATABASE_URL) && problems.every((p) => !p.startsWith("DATABASE_URL must") && !p.startsWith("DATABASE_URL cannot")) ? env.DATABASE_URL : undefined;
  const tls = mysqlUrl === undefined ? undefined : mysqlTls(mysqlUrl, plain);
  problems.push(...(tls?.problems ?? []));
  // Only between two valid values: a bad one has its own message.
  const recordDays = env.DSR_REQUEST_RECORD_RETENTION_DAYS;
  if (Number.isInteger(recordDays) && recordDays >= 1) {
    if (Number.isInteger(env.DSR_STAGED_GRACE_MINUTES) && recordDays * 1440 < env.DSR_STAGED_GRACE_MINUTES) {
      problems.push(
        `DSR_REQUEST_RECORD_RETENTION_DAYS (${recordDays}) is shorter than DSR_STAGED_GRACE_MINUTES (${env.DSR_STAGED_GRACE_MINUTES} minutes): a request's identities must outlast the window in which its failed tasks may be retried`,
      );
    }
    if (Number.isInteger(env.DSR_EXPORT_RETENTION_DAYS) && recordDays < env.DSR_EXPORT_RETENTION_DAYS) {
      problems.push(
        `DSR_REQUEST_RECORD_RETENTION_DAYS (${recordDays}) is shorter than DSR_EXPORT_RETENTION_DAYS (${env.DSR_EXPORT_RETENTION_DAYS}): a request's export, all of the person's data, would outlive the record that says whose it is (and stay downloadable after the record no longer names them)`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const sampleWorkspace = env.DSR_SAMPLE_WORKSPACE ?? (env.NODE_ENV === "development" && !env.DSR_CONNECTORS_FILE);
  const dataDir = path.resolve(env.DSR_DATA_DIR);
  const url = env.DATABASE_URL;
  const database: Config["database"] =
    url === undefined
      ? { kind: "sqlite", file: path.join(dataDir, "dsr.sqlite") }
      : url.startsWith("sqlite:")
        ? { kind: "sqlite", file: path.resolve(url.slice("sqlite:".length)) }
        : { kind: "mysql", url: url.replace(/^mariadb:/, "mysql:"), tls: tls!.tls };
  return Object.assign(env, { dataDir, database, sampleWorkspace, retentionRules: retention.rules });
}

/** Settings without a default (their absence means something), read like the rest. */
const OPTIONAL_SETTINGS = [
  "DSR_CONNECTORS_FILE",
  "DSR_WAKE_ADVERTISE_HOST",
  "DSR_SECRET",
  "DSR_BOOTSTRAP_ADMIN_TOKEN",
  "DSR_NOTIFIER_URL",
  "DSR_NOTIFIER_SECRET",
  "DSR_SAMPLE_WORKSPACE",
  "DSR_CALLBACK_URL",
  "DSR_CALLBACK_SECRET",
  "DSR_CERTIFICATE_PRIVATE_KEY",
  "DSR_RETENTION_RULES",
  "DSR_METRICS_TOKEN",
  "DSR_LOG_FORMAT",
  "DSR_AUDIT_SIGNING_KEY",
  "DSR_AUDIT_SIGNING_KEY_FILE",
  "DSR_PLAINTEXT_HOSTS",
  "DSR_TLS_CERT_FILE",
  "DSR_TLS_KEY_FILE",
  ...EXPORT_OPTIONAL,
];

/** An Ed25519 private key in PEM, or the problem with it (never its content). */
function certificateKeyProblems(pem: string | undefined): string[] {
  if (pem === undefined) return [];
  try {
    const key = createPrivateKey(pem.replace(/\\n/g, "\n"));
    return key.asymmetricKeyType === "ed25519" ? [] : [`DSR_CERTIFICATE_PRIVATE_KEY must be an Ed25519 key, not ${key.asymmetricKeyType}`];
  } catch {
    return ["DSR_CERTIFICATE_PRIVATE_KEY must be an Ed25519 private key in PEM (PKCS#8), e.g. from `openssl genpkey -algorithm ed25519`"];
  }
}

/** The audit signing key: one source at most, an Ed25519 private key, and Object Lock only where S3 keeps the files. */
function auditKeyProblems(env: Env): string[] {
  const problems: string[] = [];
  if (env.DSR_AUDIT_OBJECT_LOCK !== "off" && env.DSR_EXPORT_STORAGE !== "s3") problems.push("DSR_AUDIT_OBJECT_LOCK needs DSR_EXPORT_STORAGE=s3 (checkpoints are kept where exports are)");
  if (env.DSR_AUDIT_SIGNING_KEY !== undefined && env.DSR_AUDIT_SIGNING_KEY_FILE !== undefined) return [...problems, "set DSR_AUDIT_SIGNING_KEY or DSR_AUDIT_SIGNING_KEY_FILE, not both"];
  let pem = env.DSR_AUDIT_SIGNING_KEY;
  if (env.DSR_AUDIT_SIGNING_KEY_FILE !== undefined) {
    try {
      pem = fs.readFileSync(env.DSR_AUDIT_SIGNING_KEY_FILE, "utf8");
    } catch (error) {
      return [...problems, `DSR_AUDIT_SIGNING_KEY_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`];
    }
  }
  if (pem === undefined && env.NODE_ENV === "production") {
    // A key generated into one process's data folder differs between hosts and is lost with the folder:
    // the next process could not extend the checkpoints, and every verification would call them altered.
    problems.push(
      "DSR_AUDIT_SIGNING_KEY or DSR_AUDIT_SIGNING_KEY_FILE is required in production: every serve and worker process must sign audit checkpoints with one key that outlives its data folder (openssl genpkey -algorithm ed25519)",
    );
  }
  if (pem === undefined) return problems;
  const name = env.DSR_AUDIT_SIGNING_KEY_FILE === undefined ? "DSR_AUDIT_SIGNING_KEY" : "DSR_AUDIT_SIGNING_KEY_FILE";
  try {
    const key = createPrivateKey(pem.replace(/\\n/g, "\n"));
    if (key.asymmetricKeyType !== "ed25519") problems.push(`${name} must be an Ed25519 key, not ${key.asymmetricKeyType}`);
  } catch {
    problems.push(`${name} must be an Ed25519 private key in PEM (PKCS#8), e.g. from \`openssl genpkey -algorithm ed25519\``);
  }
  return problems;
}

/** DSR_ variables read elsewhere (tests, CLI) that are valid but not part of the service's own settings. */
const KNOWN_OPTIONAL = new Set([
  ...OPTIONAL_SETTINGS,
  "DSR_TEST_LOG_LEVEL",
  "DSR_TEST_MYSQL_URL",
  "DSR_TEST_AUDIT_SEED",
  "DSR_TEST_REQUIRE_MYSQL",
  "DSR_TEST_INTERLEAVE_SEED",
  "DSR_TEST_INTERLEAVE_RUNS",
  "DSR_TEST_POSTGRES_URL",
  "DSR_TEST_REQUIRE_POSTGRES",
  "DSR_TOKEN",
  "DSR_URL",
]);
