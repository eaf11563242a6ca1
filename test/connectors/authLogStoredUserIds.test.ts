import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { expect } from "chai";
import { type AuthLogConnector, createAuthLogConnector } from "../../src/connectors/authLog";
import { USER_COLUMN } from "../../src/connectors/authLog/sqlStore";
import { collectAll, eraseFully, listAll } from "../../src/connectors/testing/conformance";
import { createDynamoAuthLogTable, createSampleAuthLogTable, insertAuthEvents, seedDynamoAuthLog } from "../../src/sample/authLog";
import type { AuthEvent } from "../../src/connectors/authLog/events";
import { createSqliteDatabase, describeEachDatabase, type TestDatabase } from "../support/databases";
import { SUBMIT, TestService } from "../support/harness";
import { AuthLogDynamo, LOCAL_CREDENTIALS, LOCAL_REGION } from "./support/authLogDynamo";
import { ADA_EVENTS, openTestDataSource } from "./support/authLogFixtures";

/**
 * User ids are carried exactly as the auth log stores them, from the roster to collect and erase, and
 * as a privacy officer types them. The log holds `usr_a ` (a trailing space, 5 events), `usr_a` (3) and
 * `usr_josé` written decomposed (NFD: `e` and a combining accent, 2). The roster used to trim and
 * compose the ids it listed (`usr_a` twice, `usr_josé` in NFC) while both stores match a partition by
 * its exact characters: a request for what it listed reached `usr_a`'s events, or nobody's.
 */
const SPACED = "usr_a ";
const PLAIN = "usr_a";
const DECOMPOSED = "usr_jose\u0301";
const LOG: AuthEvent[] = [
  ...ADA_EVENTS.slice(0, 5).map((e) => ({ ...e, userId: SPACED })),
  ...ADA_EVENTS.slice(5, 8).map((e) => ({ ...e, userId: PLAIN })),
  ...ADA_EVENTS.slice(8, 10).map((e) => ({ ...e, userId: DECOMPOSED })),
];
const EMAIL = "nobody@example.com";
const ALL = { categories: ["AUTH_LOGS" as const] };

/** Events per user id, read from the store itself. */
type Held = Record<string, number>;
const tally = (ids: string[]): Held => ids.reduce<Held>((held, id) => ({ ...held, [id]: (held[id] ?? 0) + 1 }), {});

/** The roster lists each id as stored; collect and erase of each listed entry reach exactly its events. */
async function rosterReachesEachListedUser(connector: AuthLogConnector, held: () => Promise<Held>): Promise<void> {
  expect(await held(), "seeded").to.deep.equal({ [SPACED]: 5, [PLAIN]: 3, [DECOMPOSED]: 2 });
  const roster = await listAll(connector);
  // Before: usr_a listed twice (5 and 3 events) and usr_josé in NFC (2).
  expect(roster, "the roster").to.have.deep.members([
    { identities: { userId: SPACED }, records: 5 },
    { identities: { userId: PLAIN }, records: 3 },
    { identities: { userId: DECOMPOSED }, records: 2 },
  ]);
  // Before: collect of each listed id found 3, 3 and 0 events.
  for (const entry of roster) expect((await collectAll(connector, { email: EMAIL, ...entry.identities })).length, JSON.stringify(entry.identities)).to.equal(entry.records);
  const spaced = roster.find((e) => e.identities.userId?.startsWith(PLAIN) && e.records === 5)!;
  // Before: erasing the entry of 5 events erased usr_a's 3 and left the 5.
  expect(await eraseFully(connector, { email: EMAIL, ...spaced.identities }, ALL)).to.equal(5);
  expect(await held(), "after erasing the listed usr_a ").to.deep.equal({ [PLAIN]: 3, [DECOMPOSED]: 2 });
  const decomposed = roster.find((e) => e.records === 2)!;
  expect(await eraseFully(connector, { email: EMAIL, ...decomposed.identities }, ALL)).to.equal(2);
  expect(await held(), "after erasing the listed usr_josé").to.deep.equal({ [PLAIN]: 3 });
}

describeEachDatabase("auth-log SQL store: user ids exactly as stored, roster to erase", (db) => {
  it("lists usr_a , usr_a and a decomposed usr_josé as stored, and collect and erase of each reach its own events", async () => {
    const ds = await openTestDataSource(db());
    const table = `auth_stored_${process.pid}`;
    await createSampleAuthLogTable(ds, table);
    await insertAuthEvents(ds, LOG, { table });
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 2 });
    try {
      await rosterReachesEachListedUser(connector, async () => tally(((await ds.query(`SELECT ${USER_COLUMN} AS u FROM ${table}`)) as { u: string }[]).map((r) => r.u)));
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});

describe("auth-log DynamoDB store (dynalite): user ids exactly as stored, roster to erase", () => {
  it("lists usr_a , usr_a and a decomposed usr_josé as stored, and collect and erase of each reach its own events", async () => {
    const dynamo = await AuthLogDynamo.start();
    const client = dynamo.client();
    const tableName = `auth-stored-${process.pid}`;
    const connector = createAuthLogConnector({ store: "dynamodb", tableName, region: LOCAL_REGION, endpoint: dynamo.endpoint, ...LOCAL_CREDENTIALS, maxAttempts: 1, pageSize: 2 });
    try {
      await createDynamoAuthLogTable(client, { tableName });
      await seedDynamoAuthLog(client, { tableName }, LOG);
      const held = async () => tally(((await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? []).map((item) => item.userId.S!));
      await rosterReachesEachListedUser(connector, held);
    } finally {
      await connector.close();
      client.destroy();
      await dynamo.stop();
    }
  });
});

describeEachDatabase("a request's user id, typed by the privacy team, reaches exactly that id", (db) => {
  let authDb: TestDatabase;
  let connector: AuthLogConnector;
  let t: TestService;
  before(async () => {
    authDb = await createSqliteDatabase();
    const ds = await openTestDataSource(authDb);
    await createSampleAuthLogTable(ds, "auth_events");
    await insertAuthEvents(ds, LOG, { table: "auth_events" });
    await ds.destroy();
    connector = createAuthLogConnector({ store: "sql", url: authDb.url, table: "auth_events" });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "20", DSR_RATE_LIMIT_PER_SECOND: "0" }, [connector]).start();
  });
  after(async () => {
    await t?.stop();
    await connector?.close();
    await authDb?.drop();
  });

  it("keeps the spaces around a typed user id (usr_a  is exported, not usr_a), and refuses a decomposed one with a stable field error", async () => {
    const vouched = { identityVerified: true, verificationEvidence: "the roster listed this user id" };
    const submitted = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: EMAIL, userId: SPACED }, ...vouched } })).submitRequest;
    // Before: stored and shown as usr_a.
    expect(submitted.subject.userId).to.equal(SPACED);
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: submitted.id });
    const done = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status export { records } } }`, { id: submitted.id })).request;
      return r.status === "COMPLETED" || r.status === "FAILED" ? r : undefined;
    }, "the request ended", 30_000);
    // Before: usr_a's 3 events were exported as this person's, none of usr_a 's 5.
    expect(done.status).to.equal("COMPLETED");
    expect(done.export.records).to.equal(5);

    // Only ASCII can be typed (as before): a decomposed (or composed) usr_josé is refused, naming the field and not the value.
    for (const userId of [DECOMPOSED, DECOMPOSED.normalize("NFC"), `${PLAIN}\u00a0`]) {
      const refused = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email: EMAIL, userId }, ...vouched } });
      expect(refused.errors?.map((e) => e.extensions.code), userId).to.deep.equal(["BAD_USER_INPUT"]);
      expect((refused.errors?.[0].extensions.fields as { field: string }[]).map((f) => f.field), userId).to.deep.equal(["subject.userId"]);
      expect(JSON.stringify(refused)).not.to.contain(userId);
    }
  });
});
