import fs from "node:fs";
import http from "node:http";
import mysql from "mysql2/promise";
import { AddressInfo } from "node:net";
import { DataSource } from "typeorm";
import { SYSTEM_ACTOR } from "../../src/audit/actor";
import { createToken } from "../../src/auth/tokens";
import { ManualClock } from "../../src/clock";
import { loadConfig } from "../../src/config/env";
import { Role } from "../../src/domain/enums";
import { RunningService, startService } from "../../src/server";
import { verifySignature } from "../../src/signing";
import type { Connector } from "../../src/connectors/sdk";
import type { Logger } from "../../src/logger";
import { ScriptedConnector } from "./scriptedConnector";
import { tempDir, TestDatabase } from "./databases";

// better-sqlite3 ships no types: the little used here, typed by hand.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require("better-sqlite3") as new (file: string, options: { timeout: number }) => {
  prepare(sql: string): { all(): unknown[]; run(): unknown };
  close(): void;
};

/** The service's tables, children first, that a test's installation starts without rows in. */
const WIPED_TABLES = ["breach_rosters", "wake_endpoints", "erasure_units", "erasure_fences", "erasure_progress", "exports", "status_callbacks", "deletion_plan_items", "surveyed_ids", "legal_holds", "retention_exceptions", "kept_undated_ids", "staged_batches", "staged_keys", "request_identities", "task_dependencies", "tasks", "audit_events", "audit_stream_heads", "audit_checkpoints", "requests", "api_tokens"];

/** Empties WIPED_TABLES on a connection of its own, with no service running; a suite's first test finds no tables yet. */
async function emptyTables(db: TestDatabase): Promise<void> {
  if (db.kind === "mariadb") {
    const c = await mysql.createConnection({ uri: db.url });
    try {
      for (const table of WIPED_TABLES) await c.query(`DELETE FROM \`${table}\``).catch((error: { errno?: number }) => { if (error.errno !== 1146) throw error; });
    } finally {
      await c.end();
    }
  } else if (db.kind === "sqlite") {
    const file = db.url.slice("sqlite:".length);
    if (!fs.existsSync(file)) return;
    const sqlite = new Database(file, { timeout: 5000 });
    try {
      const present = new Set((sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
      for (const table of WIPED_TABLES) if (present.has(table)) sqlite.prepare(`DELETE FROM "${table}"`).run();
    } finally {
      sqlite.close();
    }
  }
}

export const NOTIFIER_SECRET = "test-notifier-secret-0123456789";

/** A real HTTP endpoint standing in for the mailer: receives signed webhook notifications, keeps the codes. */
export class CodeInbox {
  private server?: http.Server;
  readonly codes = new Map<string, string>();
  readonly emails = new Map<string, string>();
  /** Every code delivered, in the order they arrived. */
  readonly sent: { requestId: string; code: string }[] = [];
  rejected = 0;
  url = "";

  constructor(private readonly clock: ManualClock) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const signature = String(req.headers["dsr-signature"] ?? "");
        if (!verifySignature(NOTIFIER_SECRET, signature, body, this.clock.now())) {
          this.rejected += 1;
          res.writeHead(401).end();
          return;
        }
        const message = JSON.parse(body) as { requestId: string; code: string; email: string };
        this.codes.set(message.requestId, message.code);
        this.sent.push({ requestId: message.requestId, code: message.code });
        this.emails.set(message.requestId, message.email);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/notify`;
  }

  code(requestId: string): string {
    const code = this.codes.get(requestId);
    if (!code) throw new Error(`no code was delivered for ${requestId}`);
    return code;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

export interface GraphQLResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions: { code: string; fields?: Array<{ field: string; messages: string[] }>; [k: string]: unknown } }>;
}

/** Where every TestService's clock starts (tests seed dated data relative to it before starting one). */
export const TEST_START = new Date("2026-03-02T10:00:00.000Z");

/** A running service on a test database, with one token per role and a clock the test controls. */
export class TestService {
  readonly clock = new ManualClock(TEST_START);
  readonly inbox = new CodeInbox(this.clock);
  readonly tokens = {} as Record<Role, string>;
  service!: RunningService;

  constructor(
    private readonly db: TestDatabase,
    private readonly env: Record<string, string> = {},
    /**
     * Registered connectors; by default one that holds nothing, with no worker running (approved requests
     * stay IN_PROGRESS). null: those of DSR_CONNECTORS_FILE.
     */
    private readonly connectors: Connector[] | null = [new ScriptedConnector({ name: "idle" })],
    /** The service's logger (default: one made from DSR_LOG_LEVEL); a test that reads the log passes its own. */
    private readonly logger?: Logger,
  ) {}

  get ds(): DataSource {
    return this.service.services.ds;
  }

  get url(): string {
    return this.service.url;
  }

  /** Stops the service and starts a new one on the same database and clock, keeping every row (a restart). */
  async restart(): Promise<void> {
    await this.service.stop();
    this.service = await startService({ config: this.config!, clock: this.clock, connectors: this.connectors ?? undefined, logger: this.logger });
  }

  /**
   * Kills the service as a crash would, and starts a new one on the same database and clock. Its
   * database connections go first, so an open transaction rolls back and the old instance writes
   * nothing more (no hand-back, no heartbeat); then the rest of it stops. Calls it had already sent to
   * other systems still arrive there. Tasks it was running keep their leases until they expire on the
   * database clock, and the new instance's sweeper takes them back.
   */
  async crash(): Promise<void> {
    const dead = this.service;
    await dead.services.ds.destroy().catch(() => undefined);
    await dead.stop().catch(() => undefined);
    this.service = await startService({ config: this.config!, clock: this.clock, connectors: this.connectors ?? undefined, logger: this.logger });
  }

  private config?: ReturnType<typeof loadConfig>;

  async start(): Promise<this> {
    await this.inbox.start();
    const config = loadConfig({
      NODE_ENV: "test",
      PORT: "0",
      DSR_HOST: "127.0.0.1",
      DATABASE_URL: this.db.url,
      DSR_DATA_DIR: tempDir(),
      DSR_LOG_LEVEL: process.env.DSR_TEST_LOG_LEVEL ?? "silent",
      DSR_NOTIFIER: "webhook",
      DSR_NOTIFIER_URL: this.inbox.url,
      DSR_NOTIFIER_SECRET: NOTIFIER_SECRET,
      DSR_WORKER_CONCURRENCY: "0",
      // Suites submit far more codes to one address than a day allows anyone (DSR_VERIFICATION_CODES_PER_DAY,
      // 10): the cap's own suite (verificationCodeLimit) sets it back.
      DSR_VERIFICATION_CODES_PER_DAY: "1000",
      ...this.env,
    });
    this.config = config;
    // What an earlier test of the suite left (tasks, callbacks due) goes before the service starts: its
    // worker and dispatcher would otherwise take it up while wipe() deletes it (a deadlock on MariaDB).
    await emptyTables(this.db);
    this.service = await startService({ config, clock: this.clock, connectors: this.connectors ?? undefined, logger: this.logger });
    try {
      await this.wipe();
      for (const role of Object.values(Role)) {
        this.tokens[role] = (await createToken(this.ds, this.clock, SYSTEM_ACTOR, { name: `test ${role}`, role })).token;
      }
    } catch (error) {
      // Not left running: a service nobody stops would take the next tests' work.
      await this.service.stop().catch(() => undefined);
      throw error;
    }
    return this;
  }

  /** Empties every table (the schema stays), so each test starts from a new installation. */
  async wipe(): Promise<void> {
    for (const table of WIPED_TABLES) await this.ds.query(`DELETE FROM ${table}`);
  }

  async stop(): Promise<void> {
    await this.service?.stop();
    await this.inbox.stop();
  }

  /** POSTs one GraphQL operation the way any client would. `as: null` sends no token. */
  async gql<T = any>(query: string, variables: Record<string, unknown> = {}, as: Role | null | string = Role.ADMIN): Promise<GraphQLResponse<T>> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = as === null ? null : (this.tokens as Record<string, string>)[as] ?? as;
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(this.url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as GraphQLResponse<T>;
    return { ...body, status: response.status };
  }

  /** Like gql, but fails the test on any error and returns data. */
  async ok<T = any>(query: string, variables: Record<string, unknown> = {}, as: Role | null | string = Role.ADMIN): Promise<T> {
    const result = await this.gql<T>(query, variables, as);
    if (result.errors?.length) throw new Error(`unexpected GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data as T;
  }

  /** Polls until `check` returns a value (not undefined), or fails after timeoutMs. */
  async waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * The request as `query` (taking `$id`, selecting `tasks { step status }`) reads it once its PURGE
   * ended, SUCCEEDED or FAILED.
   */
  async purgeEnded(query: string, id: string, timeoutMs = 30_000): Promise<any> {
    return this.waitFor(
      async () => {
        const request = (await this.ok(query, { id })).request;
        return request.tasks.some((task: { step: string; status: string }) => task.step === "PURGE" && ["SUCCEEDED", "FAILED"].includes(task.status)) ? request : undefined;
      },
      "purge ended",
      timeoutMs,
    );
  }

  async count(table: string): Promise<number> {
    const [row] = await this.ds.query(`SELECT COUNT(*) AS n FROM ${table}`);
    return Number(row.n);
  }
}

export const REQUEST_FIELDS = `id type status source receivedAt dueAt overdue extendedDays extensionReason statusReason closedAt
  subject { email userId phone externalIds { system id } } corrections { field value }
  verification { method verifiedAt evidence codeExpiresAt attemptsLeft }`;

export const SUBMIT = `mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { ${REQUEST_FIELDS} } }`;

/** Submits a request as ADMIN and returns it; `verified` skips the emailed code. */
export async function submit(t: TestService, input: Record<string, unknown> = {}, as: Role = Role.ADMIN): Promise<any> {
  const data = await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: "ada.lovelace@example.com" }, ...input } }, as);
  return data.submitRequest;
}

/** Submits and verifies with the delivered code: the request ends in PENDING_APPROVAL. */
export async function submitVerified(t: TestService, input: Record<string, unknown> = {}): Promise<any> {
  const request = await submit(t, input);
  const data = await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { ${REQUEST_FIELDS} } }`, {
    id: request.id,
    code: t.inbox.code(request.id),
  });
  return data.verifyRequest;
}

/** The sum of `f` over `items` (record counts across outcome lines, certificates, a system's sets). */
export const sum = <T>(items: readonly T[], f: (x: T) => number): number => items.reduce((n, x) => n + f(x), 0);

/** Submits a request (verified by other means) and approves it, as ADMIN; returns its id. */
export async function approved(t: TestService, input: Record<string, unknown>): Promise<string> {
  const request = await submit(t, { identityVerified: true, verificationEvidence: "signed-in session", ...input });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: request.id });
  return request.id;
}

/**
 * Reads `query`'s `request` for `id` until the request has ended (COMPLETED or FAILED), moving the clock
 * by `tickMs` before each reading (remote work is polled, retries wait on it); returns that reading.
 */
export function ended(t: TestService, query: string, id: string, options: { tickMs?: number; timeoutMs?: number; what?: string } = {}): Promise<any> {
  return t.waitFor(async () => {
    t.clock.advance(options.tickMs ?? 2);
    const now = (await t.ok(query, { id })).request;
    return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
  }, options.what ?? "the request ended", options.timeoutMs ?? 120_000);
}
