import { expect } from "chai";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { createSqliteDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { AccountDb, accountDbConfig, ADA, T0 } from "../connectors/support/accountDb";

const SHOW = `query($id: ID!) { request(id: $id) { status tasks { connector step status lastError outcome { records } } } }`;

/**
 * The account database holds two accounts under Ada's address (one stored in upper case, which its
 * case-sensitive unique index allows), each with its own payment customer. Another system is found by
 * one payment customer id at a time: handing it one of the two would reach half of her and complete.
 */
describeEachDatabase("a subject with two accounts in the account database", (db) => {
  let accountFile: TestDatabase;
  let account: AccountDb;
  let accountDb: SqlConnector;
  let t: TestService;
  beforeEach(async () => {
    accountFile = await createSqliteDatabase();
    account = await AccountDb.create(accountFile);
    await account.rows(`INSERT INTO users (id, email, name, payment_customer_id, created_at) VALUES (99, 'ADA.LOVELACE@EXAMPLE.COM', 'Ada', 'cus_ada_0099', ?)`, [account.date(T0)]);
    accountDb = createSqlConnector(accountDbConfig(), { url: accountFile.url, timeoutMs: 2000 });
    const billing = new ScriptedConnector({ name: "billing", needs: ["paymentCustomerId"], categories: ["PAYMENTS"] });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [accountDb, billing]).start();
  });
  afterEach(async () => {
    await t?.stop();
    await account?.close();
    await accountFile?.drop();
  });

  it("fails the request at the identity step, saying why, rather than follow one account and complete", async () => {
    const r = await submit(t, { type: "ACCESS", subject: { email: ADA.email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const request = await t.waitFor(
      async () => {
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request ended",
      30_000,
    );
    expect(request.status).to.equal("FAILED");
    const resolve = request.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
    expect(resolve.status).to.equal("FAILED");
    expect(resolve.lastError).to.match(/^account-db: the subject has 2 values of (userId|paymentCustomerId) here \(more than one account\?\)/);
    const billing = request.tasks.find((x: any) => x.connector === "billing");
    expect(billing.status, "the system found by a customer id never ran").not.to.equal("SUCCEEDED");
  });
});
