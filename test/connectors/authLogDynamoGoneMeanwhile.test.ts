import { expect } from "chai";
import { BatchWriteItemCommand } from "@aws-sdk/client-dynamodb";
import { testContext } from "../../src/connectors/testing/conformance";
import { AuthLogDynamo } from "./support/authLogDynamo";
import { ADA, ADA_EVENTS, type AuthLogFixture, dynamoFixture, GRACE } from "./support/authLogFixtures";
import { collectAll } from "../../src/connectors/testing/conformance";

/**
 * Events that leave the DynamoDB table while the erasure runs, by another hand (TTL, or the platform's
 * own expiry job): the erasure counts only the items its own deletes removed (the counting rule:
 * erased is what this call erased). BatchWriteItem cannot tell a delete that found its item from one
 * that did not; a conditional DeleteItem can.
 */
describe("auth-log erasure on DynamoDB while another hand deletes some of the subject's events", () => {
  let dynamo: AuthLogDynamo;
  let f: AuthLogFixture & { tableName: string };
  before(async () => {
    dynamo = await AuthLogDynamo.start();
  });
  after(async () => {
    await dynamo.stop();
  });
  beforeEach(async () => {
    f = await dynamoFixture(dynamo);
    dynamo.operations.length = 0;
  });
  afterEach(async () => {
    await f.teardown();
  });

  it("counts as erased only the items its own deletes removed, at one DeleteItem per event", async () => {
    // Pages of 100: the second unit's keys were read (strongly consistent) before it began; three of
    // them go by another hand between that read and the unit's deletes.
    const gone = ADA_EVENTS.slice(105, 108);
    let units = 0;
    const direct = dynamo.client();
    const ctx = testContext({
      eraseUnit: async (_category, work) => {
        if ((units += 1) === 2) {
          const requests = gone.map((e) => ({ DeleteRequest: { Key: { userId: { S: ADA.userId! }, sk: { S: e.key } } } }));
          await direct.send(new BatchWriteItemCommand({ RequestItems: { [f.tableName]: requests } }));
        }
        await work();
        return true;
      },
    });
    try {
      const outcome = await f.connector().erase(ADA, { categories: ["AUTH_LOGS"] }, ctx);
      expect(units, "units of erasure").to.equal(Math.ceil(ADA_EVENTS.length / 100));
      expect(await collectAll(f.connector(), ADA), "Ada's items left").to.deep.equal([]);
      expect((await collectAll(f.connector(), GRACE)).length, "Grace's items").to.equal(40);
      expect(outcome.erased, "erased by this call").to.equal(ADA_EVENTS.length - gone.length);
      // The cost: one delete call per event listed (the three gone included), no batches.
      expect(dynamo.count("DeleteItem"), "DeleteItem calls").to.equal(ADA_EVENTS.length);
      expect(dynamo.count("BatchWriteItem"), "BatchWriteItem calls").to.equal(0);
    } finally {
      direct.destroy();
    }
  });

  for (const maxAttempts of [1, 3]) {
    it(`counts a delete DynamoDB did but answered with a 500 once, across attempts (maxAttempts ${maxAttempts})`, async () => {
      // The 10th delete is done, then answered InternalServerError: with one attempt per call the erase
      // fails retryably; with three, the SDK sends it again and finds the item gone. Either way it was
      // this erasure's delete, and the attempts together count every event once.
      dynamo.doneThenFailed = 1;
      const connector = f.connector({ maxAttempts });
      let erased = 0;
      let attempts = 0;
      for (;;) {
        attempts += 1;
        const ctx = testContext({
          eraseUnit: async (_category, work) => {
            const n = await work();
            if (typeof n === "number") erased += n;
            return true;
          },
        });
        const done = await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, ctx).then(
          () => true,
          (error: { retryable?: boolean }) => {
            expect(error.retryable, "the failure is retryable").to.equal(true);
            return false;
          },
        );
        if (done || attempts === 3) break;
      }
      expect(dynamo.doneThenFailed, "the fault was met").to.equal(0);
      expect(await collectAll(f.connector(), ADA), "Ada's items left").to.deep.equal([]);
      expect(erased, `erased over ${attempts} attempt(s)`).to.equal(ADA_EVENTS.length);
    });
  }
});
