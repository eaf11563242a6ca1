import path from "node:path";
import pino from "pino";
import { DataSource } from "typeorm";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import type { Identities } from "../../src/connectors/sdk";
import { collectAll } from "../../src/connectors/testing/conformance";
import { withProcessingLocation } from "../../src/orchestrator/registry";
import { sampleAccountDbConfig } from "../../src/sample/accountDb";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import type { ZendeskUser } from "../../src/sample/zendesk/types";
import { tempDir, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";

/** A sample workspace and a service over its connectors, both fresh for each test of the suite. */
export interface SampleSetup {
  ws: SampleWorkspace;
  /** The workspace's data folder: its systems' own files are under `<dir>/sample/`. */
  dir: string;
  t: TestService;
  /** The request, read with `show` (a query taking `$id`), once it is COMPLETED or FAILED. */
  finished(id: string): Promise<any>;
  /** How many records each system holds for the person, found through the connectors with `ids`. */
  heldBy(ids: Identities): Promise<Record<string, number>>;
}

/**
 * Starts, before each test, the sample workspace (12 people; Ada with `authEventsForAda` auth events)
 * and a service on `db` whose connectors are the workspace's; stops both after it.
 */
export function sampleSetup(db: () => TestDatabase, show: string, authEventsForAda = 50): SampleSetup {
  const setup = {
    finished: (id: string) =>
      setup.t.waitFor(
        async () => {
          const { request } = await setup.t.ok(show, { id });
          return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
        },
        "request finished",
        60_000,
      ),
    heldBy: async (ids: Identities) => {
      const held: Record<string, number> = {};
      for (const c of setup.ws.connectors) held[c.spec.name] = (await collectAll(c, ids)).length;
      return held;
    },
  } as SampleSetup;
  beforeEach(async () => {
    setup.dir = tempDir();
    setup.ws = await startSampleWorkspace({ dataDir: setup.dir, logger: pino({ level: "silent" }), authEventsForAda, people: 12 });
    setup.t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, setup.ws.connectors).start();
  });
  afterEach(async () => {
    await setup.t?.stop();
    await setup.ws?.close();
  });
  return setup;
}

/** The sample workspace with its account database given as an SQL connector of our own, and beside it an SMS log that finds people by phone. */
export interface SmsLogSetup {
  ws: SampleWorkspace;
  dir: string;
  t: TestService;
  accountDb: SqlConnector;
  sms: SqlConnector;
  /** The SMS log's own SQLite file (table `sms_messages`). */
  smsFile: string;
}

/**
 * Starts, before each test, the sample workspace (12 people, Ada with 5 auth events), an SMS log holding
 * `messages` texts sent to `phone` (one a day back from now, bodies from `body`), and a service whose
 * connectors are the account database (`rectifiable` as given), the SMS log, and the workspace's others.
 * `arrange` runs on the workspace before the service starts. Both stop after each test.
 */
export function smsLogSetup(
  db: () => TestDatabase,
  sms: { phone: string; messages: number; body: (i: number) => string },
  options: { rectifiable?: ReturnType<typeof sampleAccountDbConfig>["rectifiable"]; arrange?: (setup: SmsLogSetup) => Promise<void> } = {},
): SmsLogSetup {
  const setup = {} as SmsLogSetup;
  beforeEach(async () => {
    setup.dir = tempDir();
    setup.ws = await startSampleWorkspace({ dataDir: setup.dir, logger: pino({ level: "silent" }), authEventsForAda: 5, people: 12, redactionPollMs: 1 });
    const config = sampleAccountDbConfig();
    if (options.rectifiable) config.rectifiable = options.rectifiable;
    setup.accountDb = createSqlConnector(config, { url: `sqlite:${accountsFile(setup.dir)}` });
    setup.smsFile = path.join(setup.dir, "sms.sqlite");
    await queryIn(setup.smsFile, `CREATE TABLE sms_messages (id INTEGER PRIMARY KEY, phone TEXT NOT NULL, body TEXT NOT NULL, sent_at TEXT NOT NULL)`, []);
    for (let i = 1; i <= sms.messages; i++) await queryIn(setup.smsFile, `INSERT INTO sms_messages (phone, body, sent_at) VALUES (?, ?, ?)`, [sms.phone, sms.body(i), new Date(Date.now() - i * 86_400_000).toISOString()]);
    setup.sms = createSqlConnector(
      {
        name: "sms-log",
        version: "1",
        tables: [{ table: "sms_messages", identityColumn: "phone", identityKind: "phone", category: "MESSAGES", recordType: "sms", primaryKey: "id", exportColumns: ["phone", "body", "sent_at"], recordedAtColumn: "sent_at", erase: { strategy: "DELETE" } }],
      },
      { url: `sqlite:${setup.smsFile}` },
    );
    await options.arrange?.(setup);
    const connectors = [withProcessingLocation(setup.accountDb, "IN"), withProcessingLocation(setup.sms, "IN"), ...setup.ws.connectors.filter((c) => c.spec.name !== "account-db")];
    setup.t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, connectors).start();
  });
  afterEach(async () => {
    await setup.t?.stop();
    await setup.accountDb?.close();
    await setup.sms?.close();
    await setup.ws?.close();
  });
  return setup;
}

/**
 * Submits a verified request for `email` (or a whole subject), approves it, and reads it (with `show`, a query taking `$id`)
 * once it has ended. Time passes on the service clock too: a payment redaction job parked in
 * REMOTE_PROCESSING is polled a second later on that clock, and the stand-in moves it one step per poll.
 */
export async function runVerified(t: TestService, show: string, type: string, email: string | Record<string, string>): Promise<any> {
  const r = await submit(t, { type, subject: typeof email === "string" ? { email } : email, identityVerified: true, verificationEvidence: "signed-in session" });
  return approvedToEnd(t, show, r.id);
}

/** Approves request `id` and reads it (with `show`) once it has ended, moving the service clock as runVerified does. */
export async function approvedToEnd(t: TestService, show: string, id: string): Promise<any> {
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
  return whenEnded(t, show, id);
}

/** Reads request `id` (with `show`) once it has ended (after its approval, or a retryTask), moving the service clock as runVerified does. */
export function whenEnded(t: TestService, show: string, id: string): Promise<any> {
  return t.waitFor(
    async () => {
      t.clock.advance(1000);
      const { request } = await t.ok(show, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "request finished",
    60_000,
  );
}

/** The sample workspace's account database file, under its data folder `dir`. */
export const accountsFile = (dir: string): string => path.join(dir, "sample", "accounts.sqlite");

/** Runs a statement on one of the sample workspace's own SQLite files, through a connection of the test's. */
export async function queryIn(file: string, sql: string, params: unknown[]): Promise<any> {
  const ds = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
  try {
    return await ds.query(sql, params);
  } finally {
    await ds.destroy();
  }
}

/**
 * A data error in the sample account database (under data folder `dir`): `to`'s row holds `from`'s id in
 * `column` (payment_customer_id or ticketing_user_id), and `from`'s row holds none.
 */
export async function misplacedId(dir: string, column: "payment_customer_id" | "ticketing_user_id", from: { userId: string }, to: { userId: string }, id: string): Promise<void> {
  await queryIn(accountsFile(dir), `UPDATE users SET ${column} = NULL WHERE id = ?`, [from.userId]);
  await queryIn(accountsFile(dir), `UPDATE users SET ${column} = ? WHERE id = ?`, [id, to.userId]);
}

/** Vera's address: a Stripe customer and a Zendesk user hold it (seedVera), and no account row does. */
export const VERA = "vera.nobody@elsewhere.example";

/** Vera, as the workspace's payment and ticketing stand-ins hold her: a customer and a user. */
export function seedVera(ws: SampleWorkspace): { customer: string; userId: number } {
  const { stripe, zendesk } = ws;
  const customer = "cus_vera_nobody";
  stripe.store.put({ id: customer, object: "customer", created: Math.floor(Date.now() / 1000) - 86_400, email: VERA, name: "Vera Nobody", metadata: {}, livemode: false }, "test.checkout");
  const template = zendesk.store.state.users.find((u) => u.role === "end-user")!;
  const user: ZendeskUser = { ...template, id: 390_000_001, name: "Vera Nobody", email: VERA, secondary_emails: [], unverified_emails: [], phone: null, active: true };
  zendesk.store.state.users.push(user);
  return { customer, userId: user.id };
}

/** Vera's customer and user (seedVera) as the stand-ins themselves hold them. */
export function veraHeld(ws: SampleWorkspace, v: { customer: string; userId: number }) {
  const customer = ws.stripe.store.all("customer").find((c) => c.id === v.customer);
  const user = ws.zendesk.store.user(v.userId);
  return { customer: customer ? { deleted: customer.deleted ?? false, email: customer.email ?? null } : null, user: user ? { active: user.active, email: user.email } : null };
}
