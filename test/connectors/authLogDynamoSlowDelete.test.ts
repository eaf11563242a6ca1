import { expect } from "chai";
import { QueryCommand } from "@aws-sdk/client-dynamodb";
import { Role } from "../../src/domain/enums";
import { describeEachOf } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { AuthLogDynamo } from "./support/authLogDynamo";
import { ADA, ADA_EVENTS, type AuthLogFixture, dynamoFixture } from "./support/authLogFixtures";
import { endOf, FAST, PLACE } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordCount status } } }`;

/**
 * The auth log on a slow DynamoDB: every delete reaches the table 900 ms after it was sent, and is
 * done then even if the connector gave up on it. A unit of erasure ends (on the service's clock) at its
 * lease; a hold placed meanwhile is answered once it has ended, and no delete may land after that.
 */
describeEachOf(["sqlite"], "auth-log erasure on a slow DynamoDB (dynalite behind a delaying proxy)", (db) => {
  let dynamo: AuthLogDynamo;
  let f: AuthLogFixture & { tableName: string };
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;
  before(async () => {
    dynamo = await AuthLogDynamo.start();
  });
  after(async () => {
    await dynamo.stop();
  });
  beforeEach(async () => {
    f = await dynamoFixture(dynamo);
  });
  afterEach(async () => {
    clearInterval(ticking);
    await t?.stop();
    t = undefined;
    await f.teardown();
  });

  /** Ada's items in the table itself (straight to dynalite, strongly consistent). */
  const itemsOfAda = async () => {
    const client = dynamo.client();
    try {
      let n = 0;
      let start: Record<string, any> | undefined;
      do {
        const out = await client.send(new QueryCommand({ TableName: f.tableName, KeyConditionExpression: "userId = :u", ExpressionAttributeValues: { ":u": { S: ADA.userId! } }, Select: "COUNT", ConsistentRead: true, ExclusiveStartKey: start }));
        n += out.Count ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
      return n;
    } finally {
      client.destroy();
    }
  };

  it("deletes nothing after a hold placed while deletes were slow was answered: no delete is sent that could outlive its unit", async function () {
    this.timeout(60_000);
    // Pages of 500 keys, one delete call at a time, no heartbeat from the connector within a page: a
    // page's deletes outlast the 2 s lease unless the store bounds them by their unit.
    const connector = f.connector({ pageSize: 500, deleteConcurrency: 1, heartbeatEveryMs: 60_000 });
    t = await new TestService(db(), FAST, [connector]).start();
    ticking = setInterval(() => t?.clock.advance(20), 20);
    dynamo.slowDeletesMs = 900;
    dynamo.operations.length = 0;
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (dynamo.count("BatchWriteItem") + dynamo.count("DeleteItem") > 0 ? true : undefined), "the first delete sent", 30_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["AUTH_LOGS"], reason: "litigation", caseReference: "K-31" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await itemsOfAda();
    const ended = await endOf(t, SHOW, r.id);
    // Any delete still on its way has landed by now.
    await new Promise((resolve) => setTimeout(resolve, 2 * dynamo.slowDeletesMs));
    const now = await itemsOfAda();
    expect(atPlacement, "Ada's items when the hold was answered").to.be.within(1, ADA_EVENTS.length - 1);
    expect(now, "Ada's items after the deletion ended (the hold keeps those it met)").to.equal(atPlacement);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["AUTH_LOGS", atPlacement]]);
    expect(ended.tasks.find((y: any) => y.step === "ERASE").outcome.erased, "erased, as the deletion reports it").to.equal(ADA_EVENTS.length - atPlacement);
  });
});
