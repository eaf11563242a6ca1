import { expect } from "chai";
import { type DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import type { AuthEvent } from "../../src/connectors/authLog/events";
import { eventKey } from "../../src/connectors/authLog/events";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { seedDynamoAuthLog } from "../../src/sample/authLog";
import { describeEachDatabase } from "../support/databases";
import { submit, sum, TEST_START } from "../support/harness";
import { ADA, ADA_EVENTS } from "./support/authLogFixtures";
import { dynamoSuite } from "./support/dynamoSuite";

const DAY = 86_400_000;
/** The policy's 90 days: a deletion keeps the events recorded since then. */
const KEEP_SINCE = new Date(TEST_START.getTime() - 90 * DAY);

/**
 * Ada's events that reach the table moments before her deletion runs: two recorded long ago that a
 * device uploaded late (past the 90 days: to erase) and three recorded in the last hour (to keep).
 */
function lateEvents(tag: string): { late: AuthEvent[]; fresh: AuthEvent[] } {
  const like = (at: Date, n: number): AuthEvent => {
    const eventId = `evt_${tag}_${n}`;
    return { ...ADA_EVENTS[0], eventId, key: eventKey(at, eventId), recordedAt: at.toISOString() };
  };
  return {
    late: [1, 2].map((n) => like(new Date(TEST_START.getTime() - 200 * DAY + n * 1000), n)),
    fresh: [3, 4, 5].map((n) => like(new Date(TEST_START.getTime() - 3_600_000 + n * 1000), n)),
  };
}

/** Ada's sort keys as the table holds them (dynalite directly, a consistent read). */
async function keysInTable(client: DynamoDBClient, tableName: string): Promise<string[]> {
  const keys: string[] = [];
  let start: Record<string, any> | undefined;
  do {
    const out = await client.send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: "#pk = :pk", ExpressionAttributeNames: { "#pk": "userId" }, ExpressionAttributeValues: { ":pk": { S: ADA.userId! } }, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    for (const item of out.Items ?? []) keys.push(item.sk.S!);
    start = out.LastEvaluatedKey;
  } while (start);
  return keys;
}

describe("auth-log reads behind a lagging DynamoDB replica (dynalite on loopback)", function () {
  const s = dynamoSuite();

  for (const consistentRead of [undefined, false]) {
    it(`erases the late events and counts the fresh ones it keeps, with consistentRead ${consistentRead === undefined ? "unset" : "false"}`, async () => {
      const f = s.f;
      const client = s.dynamo.client();
      const writer = s.dynamo.proxyClient();
      try {
        const connector = f.connector(consistentRead === undefined ? {} : { consistentRead });
        s.dynamo.replicaLagMs = 600_000;
        const { late, fresh } = lateEvents(consistentRead === undefined ? "u" : "f");
        await seedDynamoAuthLog(writer, { tableName: f.tableName }, [...late, ...fresh]);
        const collected = (await collectAll(connector, ADA)).length;
        // The replica's lag bites eventually consistent reads: what they miss is what this test is about.
        expect(collected, "events collect saw").to.equal(ADA_EVENTS.length + (consistentRead === false ? 0 : 5));

        const outcome = await connector.erase(ADA, { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: KEEP_SINCE } }, testContext());
        const left = await keysInTable(client, f.tableName);
        const keptInTable = left.filter((k) => k >= KEEP_SINCE.toISOString()).length;
        expect(left.filter((k) => k < KEEP_SINCE.toISOString()), "events past the 90 days still in the table").to.deep.equal([]);
        expect(left, "the fresh events stay").to.include.members(fresh.map((e) => e.key));
        expect(outcome.kept?.[0]?.count, "kept, as reported").to.equal(keptInTable);
        expect(outcome.erased, "erased, as reported").to.equal(ADA_EVENTS.length + 5 - keptInTable);
      } finally {
        writer.destroy();
        client.destroy();
      }
    });
  }
});

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector erased kept matchesPlan differences { kind records } } } }`;

describeEachDatabase("a deletion behind a lagging DynamoDB replica (through the service)", (db) => {
  const s = dynamoSuite(db);

  it("reports erased and kept what the table lost and holds, with the events written just before", async function () {
    this.timeout(120_000);
    const f = s.f;
    const client = s.dynamo.client();
    const writer = s.dynamo.proxyClient();
    try {
      const t = await s.service({ DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [f.connector()]);
      const before = (await keysInTable(client, f.tableName)).length;
      s.dynamo.replicaLagMs = 600_000;
      const { late, fresh } = lateEvents(`s${db().kind}`);
      await seedDynamoAuthLog(writer, { tableName: f.tableName }, [...late, ...fresh]);
      const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      const done = await t.waitFor(async () => {
        t.clock.advance(1000);
        const now = (await t.ok(SHOW, { id: r.id })).request;
        return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
      }, "deletion finished", 60_000);
      const after = await keysInTable(client, f.tableName);
      expect(done.status, done.statusReason).to.equal("COMPLETED");
      expect(after.filter((k) => k < KEEP_SINCE.toISOString()), "events past the 90 days still in the table").to.deep.equal([]);
      expect(sum(done.deletionOutcome, (o: any) => o.erased), "erased: what left the table").to.equal(before + 5 - after.length);
      expect(sum(done.deletionOutcome, (o: any) => o.kept), "kept: what the table holds").to.equal(after.length);
      expect(done.deletionOutcome.every((o: any) => o.matchesPlan), JSON.stringify(done.deletionOutcome)).to.equal(true);
    } finally {
      writer.destroy();
      client.destroy();
    }
  });
});
