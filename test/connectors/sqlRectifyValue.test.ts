import { expect } from "chai";
import { ConnectorError } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/testContext";
import { createSqliteDatabase, describeEachOf, TestDatabase } from "../support/databases";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError } } }`;
/** A value no date column takes, and a name longer than the column's 200 characters. */
const NOT_A_DATE = "the Tuesday Ada was born";
const TOO_LONG = `Augusta Ada King, Countess of Lovelace ${"x".repeat(200)}`;

/**
 * A correction whose value the account database's column refuses (MariaDB and PostgreSQL check types and
 * lengths; their messages quote the value): the request fails saying so, with the driver's code, and the
 * value reaches neither the task's error nor the service log.
 */
describeEachOf(["mariadb", "postgres"], "a correction whose value its column refuses", (db) => {
  let serviceDb: TestDatabase;
  let service: AccountDbService | undefined;
  beforeEach(async () => {
    serviceDb = await createSqliteDatabase();
    service = await accountDbService(serviceDb, (config) => (config.rectifiable = { ...config.rectifiable, joined: { table: "users", column: "created_at" } }), db());
  });
  afterEach(async () => {
    await service?.stop();
    await serviceDb?.drop();
  });

  for (const [field, value] of [["joined", NOT_A_DATE], ["name", TOO_LONG]] as const) {
    it(`fails the request once, saying the value does not fit, and changes nothing (${field})`, async () => {
      const before = await service!.account.rows(`SELECT name, created_at FROM users WHERE id = 1`);
      const done = await service!.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field, value }] }, SHOW);
      expect(done.status).to.equal("FAILED");
      const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
      expect(rectify.lastError).to.match(/^account-db: the database refused a corrected value \(table users\) \([0-9A-Z_]+\): it does not fit its column \(type, length, range or a constraint\), so that table's fields were not changed/);
      expect(JSON.stringify(done)).not.to.contain(value.slice(0, 20));
      expect(await service!.account.rows(`SELECT name, created_at FROM users WHERE id = 1`)).to.deep.equal(before);

      // What the runner logs (internalMessage) names the code, not the value.
      const error = await service!.connector.rectify({ email: ADA.email }, [{ field, value }], testContext()).then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).internalMessage).not.to.contain(value.slice(0, 20));
    });
  }
});
