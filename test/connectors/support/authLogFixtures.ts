import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { DataSource } from "typeorm";
import { type AuthLogCommonOptions, type AuthLogConnector, type AuthLogOptions, createAuthLogConnector } from "../../../src/connectors/authLog";
import type { Identities } from "../../../src/connectors/sdk";
import { createDynamoAuthLogTable, sampleAuthEvents, sampleAuthLog, seedDynamoAuthLog, seedSampleAuthLog } from "../../../src/sample/authLog";
import { type SamplePerson, samplePeople } from "../../../src/sample/people";
import type { TestDatabase } from "../../support/databases";
import { type AuthLogDynamo, LOCAL_CREDENTIALS, LOCAL_REGION } from "./authLogDynamo";
import { FaultyProxy } from "./faultyProxy";

/** The sample people, Ada with 1,234 events: 13 pages of 100, so every test crosses pages. */
export const PEOPLE = samplePeople(8, { authEventsForAda: 1234 });
export const PAGE = 100;
const idsOf = (p: SamplePerson): Identities => ({ email: p.email, userId: p.userId });
export const ADA = idsOf(PEOPLE[0]);
export const GRACE = idsOf(PEOPLE[1]);
/** Ada's events as seeded, oldest first. */
export const ADA_EVENTS = [...sampleAuthEvents(PEOPLE[0])];

/** Options a test adds to (or changes in) the fixture's connector options. */
export type ExtraOptions = AuthLogCommonOptions & Record<string, unknown>;

/** A freshly seeded auth log in one store, and connectors on it. */
export interface AuthLogFixture {
  /** dynamodb, sqlite or mariadb. */
  kind: string;
  /** A connector on the seeded store; closed by teardown(). */
  connector(extra?: ExtraOptions): AuthLogConnector;
  /** A connector whose table does not exist. */
  missingTable(): AuthLogConnector;
  /** Makes the connector's calls fail transiently until the returned undo runs. */
  injectRetryableFault(): Promise<() => Promise<void>>;
  teardown(): Promise<void>;
}

let tables = 0;
const uniqueTable = (prefix: string) => `${prefix}${process.pid}_${(tables += 1)}`;

/** Tracks the connectors a fixture hands out, so teardown closes each. */
function connectorsOf(base: () => AuthLogOptions): Pick<AuthLogFixture, "connector"> & { closeAll(): Promise<void> } {
  const made: AuthLogConnector[] = [];
  return {
    connector(extra = {}) {
      const connector = createAuthLogConnector({ ...base(), ...extra } as AuthLogOptions);
      made.push(connector);
      return connector;
    },
    closeAll: async () => {
      await Promise.all(made.map((c) => c.close()));
    },
  };
}

/** A new table in dynalite, seeded with every sample person's events. */
export async function dynamoFixture(dynamo: AuthLogDynamo): Promise<AuthLogFixture & { tableName: string }> {
  const tableName = uniqueTable("auth-events-");
  const client = dynamo.client();
  await createDynamoAuthLogTable(client, { tableName });
  await seedDynamoAuthLog(client, { tableName }, sampleAuthLog(PEOPLE));
  const options = (table: string): AuthLogOptions => ({
    store: "dynamodb",
    tableName: table,
    region: LOCAL_REGION,
    endpoint: dynamo.endpoint,
    ...LOCAL_CREDENTIALS,
    // The SDK's own retries would hide injected faults and slow the tests: one attempt per call.
    maxAttempts: 1,
    pageSize: PAGE,
    backoffBaseMs: 5,
    backoffMaxMs: 40,
  });
  const made = connectorsOf(() => options(tableName));
  return {
    kind: "dynamodb",
    tableName,
    connector: made.connector,
    missingTable: () => made.connector({ tableName: `${tableName}-missing` }),
    injectRetryableFault: async () => {
      dynamo.fault = { status: 400, type: "ProvisionedThroughputExceededException" };
      return async () => {
        dynamo.fault = undefined;
      };
    },
    teardown: async () => {
      dynamo.fault = undefined;
      dynamo.partialBatches = 0;
      dynamo.replicaLagMs = 0;
      dynamo.slowDeletesMs = 0;
      dynamo.holdDeletesMs = 0;
      dynamo.droppedDeletes = 0;
      dynamo.throttleEveryOtherDelete = false;
      dynamo.doneThenFailed = 0;
      dynamo.deleteFaults.length = 0;
      dynamo.holdReads(0);
      dynamo.release();
      await made.closeAll();
      await client.send(new DeleteTableCommand({ TableName: tableName }));
      client.destroy();
    },
  };
}

/** The test's own connection to a test database (the connector gets its own). */
export async function openTestDataSource(db: TestDatabase): Promise<DataSource> {
  const ds =
    db.kind === "sqlite"
      ? new DataSource({ type: "better-sqlite3", database: db.url.slice("sqlite:".length) })
      : new DataSource({ type: "mysql", url: db.url, timezone: "Z", charset: "utf8mb4_unicode_ci" });
  return ds.initialize();
}

/**
 * A new table in the test database, seeded the way the sample workspace seeds it. MariaDB is reached
 * through a FaultyProxy (its faults are dropped connections); SQLite's fault is an exclusive lock held
 * by the fixture's own connection (SQLITE_BUSY).
 */
export async function sqlFixture(db: TestDatabase): Promise<AuthLogFixture> {
  const table = uniqueTable("auth_events_");
  const ds = await openTestDataSource(db);
  await seedSampleAuthLog(ds, PEOPLE, { table });
  const target = new URL(db.url);
  const proxy = db.kind === "mariadb" ? await new FaultyProxy({ host: target.hostname, port: Number(target.port || 3306) }).start() : undefined;
  if (proxy) target.host = `127.0.0.1:${proxy.port}`;
  const url = proxy ? target.toString() : db.url;
  const made = connectorsOf(() => ({ store: "sql", url, table, timeoutMs: 300, pageSize: PAGE }));
  return {
    kind: db.kind,
    connector: made.connector,
    missingTable: () => made.connector({ table: `${table}_missing` }),
    injectRetryableFault: async () => {
      if (proxy) {
        proxy.break();
        return async () => proxy.heal();
      }
      await ds.query("BEGIN EXCLUSIVE");
      return async () => {
        await ds.query("ROLLBACK");
      };
    },
    teardown: async () => {
      await made.closeAll();
      await proxy?.stop();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    },
  };
}
