import { expect } from "chai";
import { BatchWriteItemCommand } from "@aws-sdk/client-dynamodb";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { sampleAuthEvents } from "../../src/sample/authLog";
import { ADA, GRACE, PEOPLE } from "./support/authLogFixtures";
import { dynamoSuite } from "./support/dynamoSuite";

/** Grace's 40 events (Ada's 1,234 would only make the test slower): pages of 10 make 4 units. */
const GRACE_EVENTS = [...sampleAuthEvents(PEOPLE[1])];

/**
 * A context whose units add up what their work returned, as the orchestrator keeps each unit's count
 * (`counted.erased`, over `counted.units` units); `atUnit` runs before each unit's work, given its number.
 */
function counting(atUnit?: (unit: number) => Promise<void> | void) {
  const counted = { erased: 0, units: 0 };
  const ctx = testContext({
    eraseUnit: async (_category, work) => {
      await atUnit?.((counted.units += 1));
      const n = await work();
      if (typeof n === "number") counted.erased += n;
      return true;
    },
  });
  return { ctx, counted };
}

/**
 * Events that leave the DynamoDB table while the erasure runs, by another hand (TTL, or the platform's
 * own expiry job): the erasure counts only the items its own deletes removed (the counting rule:
 * erased is what this call erased). BatchWriteItem cannot tell a delete that found its item from one
 * that did not; a conditional DeleteItem can.
 */
describe("auth-log erasure on DynamoDB while another hand deletes some of the subject's events", () => {
  const s = dynamoSuite();

  it("counts as erased only the items its own deletes removed, at one DeleteItem per event", async () => {
    // Pages of 10: the second unit's keys were read (strongly consistent) before it began; three of
    // them go by another hand between that read and the unit's deletes.
    const gone = GRACE_EVENTS.slice(12, 15);
    const direct = s.dynamo.client();
    const { ctx, counted } = counting(async (unit) => {
      if (unit !== 2) return;
      const requests = gone.map((e) => ({ DeleteRequest: { Key: { userId: { S: GRACE.userId! }, sk: { S: e.key } } } }));
      await direct.send(new BatchWriteItemCommand({ RequestItems: { [s.f.tableName]: requests } }));
    });
    try {
      const outcome = await s.f.connector({ pageSize: 10 }).erase(GRACE, { categories: ["AUTH_LOGS"] }, ctx);
      expect(counted.units, "units of erasure").to.equal(4);
      expect(await collectAll(s.f.connector(), GRACE), "Grace's items left").to.deep.equal([]);
      expect((await collectAll(s.f.connector(), ADA)).length, "Ada's items").to.equal(1234);
      expect(outcome.erased, "erased by this call").to.equal(GRACE_EVENTS.length - gone.length);
      // The cost: one delete call per event listed (the three gone included), no batches.
      expect(s.dynamo.count("DeleteItem"), "DeleteItem calls").to.equal(GRACE_EVENTS.length);
      expect(s.dynamo.count("BatchWriteItem"), "BatchWriteItem calls").to.equal(0);
    } finally {
      direct.destroy();
    }
  });

  for (const maxAttempts of [1, 3]) {
    it(`counts a delete DynamoDB did but answered with a 500 once, across attempts (maxAttempts ${maxAttempts})`, async () => {
      // The 10th delete is done, then answered InternalServerError: with one attempt per call the erase
      // fails retryably; with three, the SDK sends it again and finds the item gone. Either way it was
      // this erasure's delete, and the attempts together count every event once.
      s.dynamo.doneThenFailed = 1;
      const connector = s.f.connector({ maxAttempts, pageSize: 10 });
      let erased = 0;
      let attempts = 0;
      for (;;) {
        attempts += 1;
        const { ctx, counted } = counting();
        const done = await connector.erase(GRACE, { categories: ["AUTH_LOGS"] }, ctx).then(
          () => true,
          (error: { retryable?: boolean }) => {
            expect(error.retryable, "the failure is retryable").to.equal(true);
            return false;
          },
        );
        erased += counted.erased;
        if (done || attempts === 3) break;
      }
      expect(s.dynamo.doneThenFailed, "the fault was met").to.equal(0);
      expect(await collectAll(s.f.connector(), GRACE), "Grace's items left").to.deep.equal([]);
      expect(erased, `erased over ${attempts} attempt(s)`).to.equal(GRACE_EVENTS.length);
    });
  }

  it("fails retryably within timeoutMs, counting what it knows, when the read-back of a delete answered 500 gets no answer", async function () {
    this.timeout(20_000);
    // Pages of 10: the first unit deletes its 10; in the second, the first delete is done, then answered
    // 500, and the GetItem that would tell whether it was done hangs.
    const { ctx, counted } = counting((unit) => {
      if (unit !== 2) return;
      s.dynamo.doneThenFailed = 1;
      s.dynamo.stalled = "GetItem";
    });
    const started = Date.now();
    const failure = await s.f
      .connector({ pageSize: 10, deleteConcurrency: 1, timeoutMs: 300 })
      .erase(GRACE, { categories: ["AUTH_LOGS"] }, ctx)
      .then(
        () => undefined,
        (error: { retryable?: boolean; userMessage?: string }) => error,
      );
    expect(Date.now() - started, "ms until the erase gave up").to.be.below(5_000);
    expect(failure?.retryable, "the failure is retryable").to.equal(true);
    expect(failure?.userMessage).to.equal("auth-log: DynamoDB did not answer in time whether a delete was done; the erasure resumes on the next attempt");
    // The delete answered 500 was done, but the read-back could not tell: this attempt does not count
    // it (it leaves it to the next under a unit note: test/connectors/authLogDynamoLanded.test.ts).
    expect(counted.erased, "counted: the first unit's deletes").to.equal(10);
    expect(await collectAll(s.f.connector(), GRACE), "Grace's items left").to.have.length(GRACE_EVENTS.length - 11);
  });
});
