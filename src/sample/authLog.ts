/**
 * The sample auth log: every sample person's login and MFA events, in the embedded SQL database (the
 * default store of the auth-log connector) or in a DynamoDB table (tests and the bench). Same people,
 * same events, same keys in both.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DataSource } from "typeorm";
import { BATCH_LIMIT, batchWrite, chunks, inParallel } from "../connectors/authLog/dynamoBatch";
import { type AuthEvent, AUTH_EVENT_FIELDS, eventKey } from "../connectors/authLog/events";
import { DEFAULT_SQL_TABLE } from "../connectors/authLog/options";
import { FIELD_COLUMNS, KEY_COLUMN, USER_COLUMN } from "../connectors/authLog/sqlStore";
import { quote } from "../connectors/sql/database";
import { recordDates, type SamplePerson, seededRandom } from "./people";

const EVENTS = ["login", "login", "login", "mfa_challenge", "mfa_challenge", "password_change", "logout"];
const FACTORS = ["totp", "webauthn", "sms", "push"];
const DEVICES = ["MacBook Pro", "ThinkPad X1", "iPhone 15", "Pixel 8", "iPad Air", "Surface Laptop"];
const BROWSERS = ["Firefox 130", "Chrome 128", "Safari 17.6", "Edge 127"];
const OSES = ["macOS 15", "Windows 11", "iOS 18", "Android 15", "Ubuntu 24.04"];

/**
 * A person's auth events, oldest first, generated lazily (a million events never sit in memory as
 * objects; only their dates do). Deterministic per person: every run and every store agrees.
 */
export function* sampleAuthEvents(p: SamplePerson): Generator<AuthEvent> {
  const random = seededRandom(p.index * 7919 + 17);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  // A person uses a few devices, each from its own address: the log looks like a life, not noise.
  const devices = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, d) => ({
    device: pick(DEVICES),
    browser: pick(BROWSERS),
    os: pick(OSES),
    ip: d === 2 ? `2001:db8:${(p.index % 65_536).toString(16)}::${d + 1}` : `${d ? "198.51.100" : "203.0.113"}.${(p.index * 13 + d) % 254 + 1}`,
  }));
  const dates = recordDates(p, p.authEventCount, "auth");
  for (let i = 0; i < dates.length; i += 1) {
    const event = pick(EVENTS);
    const eventId = `evt_${String(p.index).padStart(5, "0")}_${String(i).padStart(7, "0")}`;
    yield {
      userId: p.userId,
      key: eventKey(dates[i], eventId),
      eventId,
      recordedAt: dates[i].toISOString(),
      event,
      result: random() < 0.93 ? "SUCCESS" : "FAILURE",
      factor: event === "mfa_challenge" ? pick(FACTORS) : "password",
      ...pick(devices),
    };
  }
}

/** Every event of every person, person by person. */
export function* sampleAuthLog(people: readonly SamplePerson[]): Generator<AuthEvent> {
  for (const p of people) yield* sampleAuthEvents(p);
}

/** The columns in insert order: user, key, then the fields. */
const COLUMNS = [USER_COLUMN, KEY_COLUMN, ...AUTH_EVENT_FIELDS.map((f) => FIELD_COLUMNS[f])];
const isMysql = (ds: DataSource) => ds.options.type === "mysql" || ds.options.type === "mariadb";
const row = (e: AuthEvent) => [e.userId, e.key, ...AUTH_EVENT_FIELDS.map((f) => e[f])];

/**
 * Creates the auth-log table the SQL store reads (if it does not exist). The event key is compared
 * byte by byte on MySQL (ascii_bin) so key order is time order there as on SQLite.
 */
export async function createSampleAuthLogTable(ds: DataSource, table = DEFAULT_SQL_TABLE): Promise<void> {
  const mysql = isMysql(ds);
  const q = (c: string) => quote(mysql ? "mysql" : "sqlite", c);
  const text = (n: number) => (mysql ? `VARCHAR(${n})` : "TEXT");
  const fields = AUTH_EVENT_FIELDS.map((f) => `${q(FIELD_COLUMNS[f])} ${text(64)} NOT NULL`);
  const key = mysql ? "VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin" : "TEXT";
  await ds.query(
    `CREATE TABLE IF NOT EXISTS ${q(table)} (${q(USER_COLUMN)} ${text(64)} NOT NULL, ${q(KEY_COLUMN)} ${key} NOT NULL, ${fields.join(", ")}, ` +
      `PRIMARY KEY (${q(USER_COLUMN)}, ${q(KEY_COLUMN)}))`,
  );
}

/**
 * Creates the table and inserts every person's events: multi-row INSERTs of `rowsPerInsert` rows in one
 * transaction (Ada's 100,000 events take about a second on SQLite). Only an empty table is seeded, so a
 * restart of the sample workspace keeps what requests erased. Returns how many were inserted.
 */
export async function seedSampleAuthLog(ds: DataSource, people: readonly SamplePerson[], options: { table?: string; rowsPerInsert?: number } = {}): Promise<number> {
  const table = options.table ?? DEFAULT_SQL_TABLE;
  const q = (c: string) => quote(isMysql(ds) ? "mysql" : "sqlite", c);
  await createSampleAuthLogTable(ds, table);
  if ((await ds.query(`SELECT 1 AS ${q("seeded")} FROM ${q(table)} LIMIT 1`)).length) return 0;
  return insertAuthEvents(ds, sampleAuthLog(people), { table, rowsPerInsert: options.rowsPerInsert });
}

/** Inserts events into an auth-log table (createSampleAuthLogTable's), in multi-row INSERTs in one transaction; returns how many. */
export async function insertAuthEvents(ds: DataSource, events: Iterable<AuthEvent>, options: { table?: string; rowsPerInsert?: number } = {}): Promise<number> {
  const table = options.table ?? DEFAULT_SQL_TABLE;
  const q = (c: string) => quote(isMysql(ds) ? "mysql" : "sqlite", c);
  const tuple = `(${COLUMNS.map(() => "?").join(", ")})`;
  let count = 0;
  await ds.transaction(async (manager) => {
    for (const group of chunks(events, options.rowsPerInsert ?? 500)) {
      await manager.query(`INSERT INTO ${q(table)} (${COLUMNS.map(q).join(", ")}) VALUES ${group.map(() => tuple).join(", ")}`, group.flatMap(row));
      count += group.length;
    }
  });
  return count;
}

/** Where the DynamoDB auth log lives and how it is keyed (the connector's tableName/partitionKey/sortKey). */
export interface DynamoAuthLogTable {
  tableName: string;
  /** Default `userId`. */
  partitionKey?: string;
  /** Default `sk`. */
  sortKey?: string;
}

/** Creates the auth-log table (on-demand capacity) and waits until it is ACTIVE. */
export async function createDynamoAuthLogTable(client: DynamoDBClient, t: DynamoAuthLogTable, timeoutMs = 60_000): Promise<void> {
  const pk = t.partitionKey ?? "userId";
  const sk = t.sortKey ?? "sk";
  await client.send(
    new CreateTableCommand({
      TableName: t.tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: pk, AttributeType: "S" },
        { AttributeName: sk, AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: pk, KeyType: "HASH" },
        { AttributeName: sk, KeyType: "RANGE" },
      ],
    }),
  );
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(100)) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: t.tableName }));
    if (Table?.TableStatus === "ACTIVE") return;
  }
  throw new Error(`table ${t.tableName} did not become ACTIVE within ${timeoutMs} ms`);
}

/**
 * Writes events into a DynamoDB auth-log table with BatchWriteItem puts of 25, `concurrency` calls in
 * flight, pulling events lazily from the iterable (memory stays flat for a million). Returns the count.
 */
export async function seedDynamoAuthLog(client: DynamoDBClient, t: DynamoAuthLogTable, events: Iterable<AuthEvent>, options: { concurrency?: number } = {}): Promise<number> {
  const pk = t.partitionKey ?? "userId";
  const sk = t.sortKey ?? "sk";
  const policy = { retries: 10, backoff: { baseMs: 50, maxMs: 2000 } };
  let count = 0;
  await inParallel(chunks(events, BATCH_LIMIT), options.concurrency ?? 8, async (group) => {
    const requests = group.map(({ userId, key, ...fields }) => ({ PutRequest: { Item: marshall({ [pk]: userId, [sk]: key, ...fields }) } }));
    const { left } = await batchWrite(client, t.tableName, requests, policy);
    if (left) throw new Error(`${left} puts into ${t.tableName} stayed unprocessed`);
    count += group.length;
  });
  return count;
}
