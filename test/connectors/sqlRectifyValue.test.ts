import { expect } from "chai";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { ConnectorError } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/testContext";
import { createSqliteDatabase, describeEachOf, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { AccountDb, accountDbConfig, ADA } from "./support/accountDb";

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
  let account: AccountDb;
  let connector: SqlConnector;
  let t: TestService;
  beforeEach(async () => {
    serviceDb = await createSqliteDatabase();
    account = await AccountDb.create(db());
    const config = accountDbConfig();
    config.rectifiable = { ...config.rectifiable, joined: { table: "users", column: "created_at" } };
    connector = createSqlConnector(config, { url: db().url, timeoutMs: 2000 });
    t = await new TestService(serviceDb, { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "2" }, [connector]).start();
  });
  afterEach(async () => {
    await t?.stop();
    await connector?.close();
    await account?.close();
    await serviceDb?.drop();
  });

  for (const [field, value] of [["joined", NOT_A_DATE], ["name", TOO_LONG]] as const) {
    it(`fails the request once, saying the value does not fit, and changes nothing (${field})`, async () => {
      const before = await account.rows(`SELECT name, created_at FROM users WHERE id = 1`);
      const r = await submit(t, { type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field, value }], identityVerified: true, verificationEvidence: "signed-in session" });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      const done = await t.waitFor(async () => {
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      }, "request ended", 30_000);
      expect(done.status).to.equal("FAILED");
      const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
      expect(rectify.lastError).to.match(/^account-db: the database refused a corrected value \(table users\) \([0-9A-Z_]+\): it does not fit its column \(type, length, range or a constraint\), so that table's fields were not changed/);
      expect(JSON.stringify(done)).not.to.contain(value.slice(0, 20));
      expect(await account.rows(`SELECT name, created_at FROM users WHERE id = 1`)).to.deep.equal(before);

      // What the runner logs (internalMessage) names the code, not the value.
      const error = await connector.rectify({ email: ADA.email }, [{ field, value }], testContext()).then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).internalMessage).not.to.contain(value.slice(0, 20));
    });
  }
});
