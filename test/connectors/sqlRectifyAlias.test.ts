import { expect } from "chai";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { createSqliteDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { AccountDb, accountDbConfig, ADA } from "./support/accountDb";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { changed notHeld } } } }`;

/** Two correctable fields stored in one column (`fullName`, a second name for `name`): the column holds one value. */
describeEachDatabase("a correction of two fields stored in one column", (db) => {
  let accountFile: TestDatabase;
  let account: AccountDb;
  let connector: SqlConnector;
  let t: TestService;
  beforeEach(async () => {
    accountFile = await createSqliteDatabase();
    account = await AccountDb.create(accountFile);
    const config = accountDbConfig();
    config.rectifiable = { ...config.rectifiable, fullName: { table: "users", column: "name" } };
    connector = createSqlConnector(config, { url: accountFile.url, timeoutMs: 2000 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]).start();
  });
  afterEach(async () => {
    await t?.stop();
    await connector?.close();
    await account?.close();
    await accountFile?.drop();
  });

  const run = async (corrections: { field: string; value: string }[]) => {
    t.clock.advance(1000);
    const r = await submit(t, { type: "CORRECTION", subject: { email: ADA.email }, corrections, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const { request } = await t.ok(SHOW, { id: r.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "request ended", 30_000);
  };
  const name = async () => (await account.rows(`SELECT name FROM users WHERE id = 1`))[0].name;

  it("fails, changing nothing, when the correction gives them different values, rather than report both changed with one kept", async () => {
    const done = await run([{ field: "name", value: "Augusta Ada King" }, { field: "fullName", value: "Augusta Ada Byron" }]);
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(done.tasks[0].lastError).to.equal(
      "account-db: fields name and fullName are both stored in users.name, and the correction gives them different values; the rectify changed nothing. Submit a correction with one value for them",
    );
    expect(await name()).to.equal("Ada Lovelace");
  });

  it("corrects both when they agree", async () => {
    const done = await run([{ field: "name", value: "Augusta Ada King" }, { field: "fullName", value: "Augusta Ada King" }]);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.tasks[0].outcome).to.deep.equal({ changed: ["name", "fullName"], notHeld: [] });
    expect(await name()).to.equal("Augusta Ada King");
  });
});
