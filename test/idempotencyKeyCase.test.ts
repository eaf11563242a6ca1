import { expect } from "chai";
import { IdempotencyKeyBytewise1765700000000 } from "../src/migrations/1765700000000-IdempotencyKeyBytewise";
import { describeEachDatabase } from "./support/databases";
import { TestService } from "./support/harness";

const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id subject { email } idempotencyKey } }`;

/**
 * The settings page's keys are compared as they are, byte for byte, on every database: two keys that
 * differ only in case are two deletions (MariaDB's default collation would take them for one).
 */
describeEachDatabase("requestAccountDeletion keys that differ only in case", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db()).start();
  });
  after(async () => {
    await t?.stop();
  });

  it("makes a deletion for each of two people whose keys differ only in case, and answers each key with its own", async () => {
    const ada = (await t.ok(DELETE, { input: { idempotencyKey: "del-7f3A9c21", subject: { email: "ada.lovelace@example.com" } } }, "SERVICE")).requestAccountDeletion;
    const grace = await t.gql(DELETE, { input: { idempotencyKey: "del-7f3a9C21", subject: { email: "grace.hopper@example.com" } } }, "SERVICE");
    expect(grace.errors, JSON.stringify(grace.errors)).to.equal(undefined);
    expect(grace.data.requestAccountDeletion.id).not.to.equal(ada.id);
    expect(grace.data.requestAccountDeletion.idempotencyKey).to.equal("del-7f3a9C21");
    const again = (await t.ok(DELETE, { input: { idempotencyKey: "del-7f3A9c21", subject: { email: "ada.lovelace@example.com" } } }, "SERVICE")).requestAccountDeletion;
    expect(again.id).to.equal(ada.id);
    const sameKeyOtherCase = await t.gql(DELETE, { input: { idempotencyKey: "DEL-7F3A9C21", subject: { email: "ada.lovelace@example.com" } } }, "SERVICE");
    expect(sameKeyOtherCase.data?.requestAccountDeletion.id, "a third spelling is a third key").to.not.equal(ada.id);
    expect(await t.count("requests")).to.equal(3);
  });

  it("holds the column byte-wise on MySQL/MariaDB, and the migration refuses to be undone while keys differ only in case", async function () {
    if (db().kind !== "mariadb") return this.skip();
    const [{ collation }] = await t.ds.query(`SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'requests' AND COLUMN_NAME = 'idempotencyKey'`);
    expect(collation).to.equal("utf8mb4_bin");
    // This migration's own down(), whichever migration came after it.
    const runner = t.ds.createQueryRunner();
    const undone = await new IdempotencyKeyBytewise1765700000000()
      .down(runner)
      .then(
        () => null,
        (e: Error) => e.message,
      )
      .finally(() => runner.release());
    expect(undone).to.match(/^1 idempotency key\(s\) are held by several requests in different cases/);
    const [{ still }] = await t.ds.query(`SELECT COLLATION_NAME AS still FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'requests' AND COLUMN_NAME = 'idempotencyKey'`);
    expect(still).to.equal("utf8mb4_bin");
  });
});
