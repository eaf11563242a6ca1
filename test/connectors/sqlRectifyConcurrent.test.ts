import { expect } from "chai";
import type { DataSource } from "typeorm";
import { Connector, ConnectorError } from "../../src/connectors/sdk";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { testContext } from "../../src/connectors/testing/testContext";
import { createSqliteDatabase, describeEachDatabase, describeEachSqlDialect, TestDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { accountDbService, AccountDbService } from "./support/accountDbService";
import { aroundQueries } from "./support/statementSpy";
import { AccountDb, accountDbConfig, ADA, GRACE, testDataSource } from "./support/accountDb";

/** The address both people ask for, in the two spellings they type: one person's, whoever gets it. */
const WANTED = ["Shared.Person@Example.com", "shared.person@example.COM"];

/**
 * Holds every UPDATE of `users` sent through the DataSources until two have been sent, or `patienceMs`
 * passed: two corrections that both got past their checks write at the same moment, as two worker
 * processes (or two tasks of one) can. A correction that waits for the other before its checks is let
 * go after the wait.
 */
function meetAtUpdates(sources: DataSource[], patienceMs = 1500): void {
  let arrived = 0;
  let meet!: () => void;
  const together = new Promise<void>((resolve) => (meet = resolve));
  for (const ds of sources) {
    aroundQueries(ds, async (sql, run) => {
      if (/^UPDATE\s+\W?users\W?\s+SET/i.test(sql)) {
        if (++arrived === 2) meet();
        await Promise.race([together, new Promise((r) => setTimeout(r, patienceMs))]);
      }
      return run();
    });
  }
}

/**
 * Two people correct their address to one new address at once, each through their own connection (two
 * worker processes). Each correction's check that no other person's row holds the address passed
 * before either wrote it, and both wrote: one address on two people's rows, whose next requests each
 * reach the other's data. At most one may win; the other is refused, changing nothing.
 */
describeEachSqlDialect("two corrections to one new address at once", (db) => {
  let account: AccountDb;
  const sources: DataSource[] = [];
  const connectors: SqlConnector[] = [];
  beforeEach(async () => {
    account = await AccountDb.create(db());
    // Many account databases do not declare the address unique (the sample's does not): the connector's check is all there is.
    if (db().kind === "mariadb") await account.rows(`ALTER TABLE users DROP INDEX users_email`);
    if (db().kind === "postgres") await account.rows(`ALTER TABLE users DROP CONSTRAINT users_email_key`);
  });
  afterEach(async () => {
    for (const c of connectors.splice(0)) await c.close();
    for (const ds of sources.splice(0)) if (ds.isInitialized) await ds.destroy();
    await account.close();
  });

  it("lets one correction write the address and refuses the other with the identity clash, changing nothing of its person", async () => {
    for (let i = 0; i < 2; i++) {
      const ds = testDataSource(db());
      await ds.initialize();
      sources.push(ds);
      connectors.push(createSqlConnector(accountDbConfig(), { dataSource: ds }));
    }
    meetAtUpdates(sources);
    const people = [ADA, GRACE];
    const outcomes = await Promise.allSettled(people.map((who, i) => connectors[i].rectify({ email: who.email }, [{ field: "email", value: WANTED[i] }], testContext())));

    const holders = await account.rows(`SELECT id FROM users WHERE lower(email) = ?`, ["shared.person@example.com"]);
    expect(holders, "rows holding the new address").to.have.length(1);
    const won = outcomes.findIndex((o) => o.status === "fulfilled");
    expect(won, "one correction wrote the address").to.be.at.least(0);
    const lost = 1 - won;
    expect(outcomes[won]).to.deep.equal({ status: "fulfilled", value: { changed: ["email"], notHeld: [] } });
    const refused = outcomes[lost] as PromiseRejectedResult;
    expect(refused.status).to.equal("rejected");
    expect(refused.reason).to.be.instanceOf(ConnectorError);
    expect((refused.reason as ConnectorError).retryable).to.equal(false);
    expect((refused.reason as ConnectorError).userMessage).to.equal(
      "account-db: the corrected email is held by another person's row already (table users finds people by it as email); the rectify changed nothing. Submit a correction with the person's own, valid email, or correct it by hand",
    );
    expect(String(holders[0].id)).to.equal(people[won].userId);
    expect(await account.rows(`SELECT email FROM users WHERE id = ?`, [Number(people[lost].userId)])).to.deep.equal([{ email: people[lost].email }]);
  });
});

/** The same race as people meet it: two CORRECTION requests through GraphQL, their RECTIFY tasks run at once. */
describeEachDatabase("two corrections to one new address approved at once", (db) => {
  let service: AccountDbService | undefined;
  let accountFile: TestDatabase;
  let source: DataSource;
  let connector: SqlConnector;
  afterEach(async () => {
    await service?.stop();
    await connector?.close();
    if (source?.isInitialized) await source.destroy();
    await accountFile?.drop();
  });

  it("completes one, fails the other naming the clash, and the account database holds the address on one row", async () => {
    accountFile = await createSqliteDatabase();
    // The service's account-db connector, on a connection whose UPDATEs meet (the two RECTIFY tasks write at once).
    const onMeetingConnection = (): Connector => {
      source = testDataSource(accountFile);
      meetAtUpdates([source]);
      connector = createSqlConnector(accountDbConfig(), { dataSource: source });
      return connector;
    };
    service = await accountDbService(db(), undefined, accountFile, onMeetingConnection);
    const { t, account } = service;
    const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { changed } } } }`;
    const people = [ADA, GRACE];
    const ids: string[] = [];
    for (const [i, who] of people.entries()) {
      const r = await submit(t, { type: "CORRECTION", subject: { email: who.email }, corrections: [{ field: "email", value: WANTED[i] }], identityVerified: true, verificationEvidence: "signed-in session" });
      ids.push(r.id);
    }
    await Promise.all(ids.map((id) => t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id })));
    const done = await Promise.all(
      ids.map((id) => t.waitFor(async () => {
        const { request } = await t.ok(SHOW, { id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      }, "correction ended", 30_000)),
    );

    const holders = await account.rows(`SELECT id FROM users WHERE lower(email) = ?`, ["shared.person@example.com"]);
    expect(holders, "rows holding the new address").to.have.length(1);
    expect(done.map((r) => r.status).sort()).to.deep.equal(["COMPLETED", "FAILED"]);
    const won = done.findIndex((r) => r.status === "COMPLETED");
    const lost = 1 - won;
    expect(String(holders[0].id)).to.equal(people[won].userId);
    const refused = done[lost].tasks.find((x: any) => x.step === "RECTIFY");
    expect(refused.status).to.equal("FAILED");
    expect(refused.lastError).to.match(/^account-db: the corrected email is held by another person's row already \(table users finds people by it as email\); the rectify changed nothing/);
    expect(await account.rows(`SELECT email FROM users WHERE id = ?`, [Number(people[lost].userId)])).to.deep.equal([{ email: people[lost].email }]);
  });
});
