import { randomBytes } from "node:crypto";
import path from "node:path";
import { DataSource } from "typeorm";
import type { Logger } from "../logger";
import type { Connector } from "../connectors/sdk";
import { createAuthLogConnector } from "../connectors/authLog";
import { createSqlConnector } from "../connectors/sql";
import { createStripeConnector } from "../connectors/stripe";
import { createZendeskConnector } from "../connectors/zendesk";
import { withProcessingLocation } from "../orchestrator/registry";
import { sampleAccountDbConfig, seedAccountDb } from "./accountDb";
import { seedSampleAuthLog } from "./authLog";
import { samplePeople, SamplePerson } from "./people";
import { startStripeStandIn, StripeStandIn } from "./stripe";
import { startZendeskStandIn, ZendeskStandIn } from "./zendesk";
import { makeFolder } from "../folders";

/**
 * The sample workspace: the four systems of an MFA platform (POLICY.md, "Data held"), seeded with the
 * sample people and started on loopback, behind the same built-in connectors production uses:
 * - account database: an SQLite file behind the declarative SQL connector (the identity source);
 * - auth log: an SQLite table behind the auth-log connector's SQL store (DynamoDB in production);
 * - payment processor: the Stripe-compatible stand-in behind the Stripe connector (official SDK);
 * - ticketing: the Zendesk-compatible stand-in behind the Zendesk connector.
 * State lives under `<DSR_DATA_DIR>/sample/`, so erasures survive a restart. Never for production.
 */
export interface SampleWorkspace {
  connectors: Connector[];
  /** The stand-ins, for tests that inject faults or count calls. */
  stripe: StripeStandIn;
  zendesk: ZendeskStandIn;
  people: SamplePerson[];
  /** Closes the connectors and the stand-in servers. */
  close(): Promise<void>;
}

export interface SampleWorkspaceOptions {
  dataDir: string;
  logger: Logger;
  /** Auth-log events seeded for Ada. */
  authEventsForAda: number;
  /** How many sample people (300 by default). */
  people?: number;
  /** Time limit of each call to the stand-ins (10 s by default; tests that make them hang use less). */
  callTimeoutMs?: number;
  /** Between polls of the Stripe stand-in's redaction jobs (1 s by default: each poll moves a job one step). */
  redactionPollMs?: number;
  /**
   * Whether the ticketing connector takes a Zendesk user found by address as the subject's only when its
   * `external_id` is the subject's user id (`accountExternalId`; true by default, as an installation that
   * tags its users should run it). False: found by address alone, as a Zendesk without tags is searched.
   */
  ticketingAccountExternalId?: boolean;
  /** The ticketing connector's searchLagMs; default 0, as the stand-in's search shows a comment at once unless its store's searchLagMs says otherwise. */
  ticketingSearchLagMs?: number;
}

async function seedOnce(file: string, seed: (ds: DataSource) => Promise<unknown>): Promise<void> {
  const ds = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
  try {
    await seed(ds);
  } finally {
    await ds.destroy();
  }
}

/** The sample account database and auth log, as SQLite files in `dir`, seeded from `people` unless seeded already. */
export async function seedSampleDatabases(dir: string, people: readonly SamplePerson[]): Promise<{ accounts: string; authLog: string }> {
  const accounts = path.join(dir, "accounts.sqlite");
  const authLog = path.join(dir, "auth-log.sqlite");
  await seedOnce(accounts, (ds) => seedAccountDb(ds, people));
  await seedOnce(authLog, (ds) => seedSampleAuthLog(ds, people));
  return { accounts, authLog };
}

export async function startSampleWorkspace(options: SampleWorkspaceOptions): Promise<SampleWorkspace> {
  const dir = path.join(options.dataDir, "sample");
  makeFolder(dir);
  const log = options.logger.child({ sample: true });
  const people = samplePeople(options.people ?? 300, { authEventsForAda: options.authEventsForAda });
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const started = Date.now();
    const { accounts: accountsFile, authLog: authLogFile } = await seedSampleDatabases(dir, people);

    // The stand-ins check credentials like the real APIs do; these exist only inside this process.
    const stripeKey = `sk_test_sample_${randomBytes(12).toString("hex")}`;
    const zendeskToken = randomBytes(20).toString("hex");
    const stripe = await startStripeStandIn({ apiKey: stripeKey, people, stateFile: path.join(dir, "stripe.json") });
    closers.push(() => stripe.close());
    const zendesk = await startZendeskStandIn({ email: "dsr-bot@sample.invalid", apiToken: zendeskToken, people, stateFile: path.join(dir, "zendesk.json") });
    closers.push(() => zendesk.close());

    const accountDb = createSqlConnector(sampleAccountDbConfig(), { url: `sqlite:${accountsFile}` });
    closers.push(() => accountDb.close());
    const authLog = createAuthLogConnector({ store: "sql", url: `sqlite:${authLogFile}` });
    closers.push(() => authLog.close());
    const timeoutMs = options.callTimeoutMs ?? 10_000;
    const payments = createStripeConnector({ apiKey: stripeKey, host: "127.0.0.1", port: stripe.port, protocol: "http", timeoutMs, redactionPollMs: options.redactionPollMs ?? 1000, accountMetadataKey: "user_id" });
    closers.push(() => payments.close());
    const ticketing = createZendeskConnector({ baseUrl: zendesk.url, email: "dsr-bot@sample.invalid", apiToken: zendeskToken, requestsPerMinute: 6000, timeoutMs, accountExternalId: options.ticketingAccountExternalId ?? true, searchLagMs: options.ticketingSearchLagMs ?? 0 });
    closers.push(() => ticketing.close());

    // Where each system processes data, as an installation records it in its connectors file: the
    // account database and the auth-log store beside the service, the payment processor and the
    // ticketing system with their vendors (outside the primary location, and so marked).
    const connectors: Connector[] = [withProcessingLocation(accountDb, "IN"), withProcessingLocation(authLog, "IN"), withProcessingLocation(payments, "US"), withProcessingLocation(ticketing, "US")];
    log.info({ dir, people: people.length, ms: Date.now() - started, stripe: stripe.url, zendesk: zendesk.url, connectors: connectors.map((c) => c.spec.name) }, "sample workspace running");
    return { connectors, stripe, zendesk, people, close };
  } catch (error) {
    await close();
    throw error;
  }
}
