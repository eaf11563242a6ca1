import path from "node:path";
import { expect } from "chai";
import pino from "pino";
import { DataSource } from "typeorm";
import { createSqlConnector, SqlConnectorConfig, SqlConnectorConfigError } from "../../src/connectors/sql";
import { sampleAccountDbConfig } from "../../src/sample/accountDb";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason deletionOutcome { connector category plannedToErase erased redacted plannedToKeep kept residual matchesPlan } residualRecords { connector } } }`;

/** The sample account database's configuration, with `table` erased by ANONYMIZE as `erase` says. */
function anonymizing(table: string, erase: SqlConnectorConfig["tables"][number]["erase"]): SqlConnectorConfig {
  const config = sampleAccountDbConfig();
  config.tables.find((x) => x.table === table)!.erase = erase;
  return config;
}
const anonymizingDevices = (erase: SqlConnectorConfig["tables"][number]["erase"]) => anonymizing("devices", erase);

/**
 * ANONYMIZE keeps a row (a device the security team's records keep, an invoice bookkeeping law keeps)
 * with the person's data overwritten. A row that still holds the identity it was found by is still the
 * person's: the verification after erasing finds it and the deletion fails, every time. So the
 * configuration must unlink the row (the identity column overwritten with null or "") and say which
 * exported columns identify nobody once it is unlinked; then the deletion completes, and what it
 * reports is what the table holds.
 */
describeEachDatabase("a table erased by ANONYMIZE, in a deletion through the API", (db) => {
  let ws: SampleWorkspace;
  let t: TestService | undefined;
  let dir: string;
  const accountsFile = () => path.join(dir, "sample", "accounts.sqlite");

  async function query(sql: string, params: unknown[] = []): Promise<any[]> {
    const ds = await new DataSource({ type: "better-sqlite3", database: accountsFile() }).initialize();
    try {
      return await ds.query(sql, params);
    } finally {
      await ds.destroy();
    }
  }

  beforeEach(async () => {
    dir = tempDir();
    ws = await startSampleWorkspace({ dataDir: dir, logger: pino({ level: "silent" }), authEventsForAda: 20, people: 12 });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await ws?.close();
  });

  it("completes with the rows kept and unlinked, counted as erased, and refuses a configuration that leaves them leading to the person", async () => {
    const [ada] = ws.people;
    // What left each row linked: the identity column kept (and the device's OS and dates, unsaid).
    expect(() => createSqlConnector(anonymizingDevices({ strategy: "ANONYMIZE", columns: { name: null, ip: null } }), { url: `sqlite:${accountsFile()}` }))
      .to.throw(SqlConnectorConfigError)
      .with.property("message")
      .that.includes("ANONYMIZE must overwrite its identity column user_id")
      .and.includes(`leaves the exported columns "os", "browser", "first_seen_at", "last_seen_at" as they are`);

    const accountDb = createSqlConnector(anonymizingDevices({ strategy: "ANONYMIZE", columns: { user_id: "", name: null, ip: null }, keep: ["os", "browser", "first_seen_at", "last_seen_at"] }), {
      url: `sqlite:${accountsFile()}`,
    });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [accountDb, ...ws.connectors.filter((c) => c.spec.name !== "account-db")]).start();

    const devices = await query(`SELECT id, os, browser, first_seen_at, last_seen_at FROM devices WHERE user_id = ? ORDER BY id`, [ada.userId]);
    expect(devices).to.have.length.greaterThan(0);
    const [others] = await query(`SELECT COUNT(*) AS n FROM devices WHERE user_id <> ?`, [ada.userId]);
    const [byUser] = await query(`SELECT (SELECT COUNT(*) FROM mfa_factors WHERE user_id = ?) + (SELECT COUNT(*) FROM auth_preferences WHERE user_id = ?) AS n`, [ada.userId, ada.userId]);

    const done = await runVerified(t, SHOW, "DELETION", ada.email);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const account = done.deletionOutcome.find((l: any) => l.connector === "account-db");
    // Her user row, factors and preferences deleted, her devices anonymised: each one record erased.
    const erased = 1 + Number(byUser.n) + devices.length;
    // The devices are still there: of the records erased, they are the ones redacted in place.
    expect(account).to.deep.include({ category: "ACCOUNT", plannedToErase: erased, erased, redacted: devices.length, plannedToKeep: 0, kept: 0, residual: 0, matchesPlan: true });
    expect(done.residualRecords.filter((r: any) => r.connector === "account-db")).to.deep.equal([]);
    const { deletionCertificate } = await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted } } }`, { id: done.id });
    expect(deletionCertificate.erased.find((e: any) => e.connector === "account-db")).to.deep.equal({ connector: "account-db", records: erased, redacted: devices.length });

    // The table itself: the same rows, with nothing of hers but what was said to identify nobody.
    const ids = devices.map((d: any) => d.id);
    const after = await query(`SELECT id, user_id, name, ip, os, browser, first_seen_at, last_seen_at FROM devices WHERE id IN (${ids.map(() => "?").join(", ")}) ORDER BY id`, ids);
    expect(after).to.deep.equal(devices.map((d: any) => ({ ...d, user_id: "", name: null, ip: null })));
    expect(await query(`SELECT id FROM devices WHERE user_id = ?`, [ada.userId])).to.deep.equal([]);
    expect(await query(`SELECT id FROM users WHERE id = ?`, [ada.userId])).to.deep.equal([]);
    const [othersAfter] = await query(`SELECT COUNT(*) AS n FROM devices WHERE user_id NOT IN (?, '')`, [ada.userId]);
    expect(Number(othersAfter.n), "nobody else's device was touched").to.equal(Number(others.n));
  });

  it("completes with the user row kept and unlinked: the key it still holds (its user id) is nobody's when the erasure is checked", async () => {
    const [ada, grace] = ws.people;
    // The users table provides every id the other systems need; its primary key (the user id) stays.
    const users = anonymizing("users", {
      strategy: "ANONYMIZE",
      columns: { email: "", name: "Deleted user", phone: null, company: null, job_title: null, payment_customer_id: null, ticketing_user_id: null },
      keep: ["status", "created_at", "closed_at"],
    });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [
      createSqlConnector(users, { url: `sqlite:${accountsFile()}` }),
      ...ws.connectors.filter((c) => c.spec.name !== "account-db"),
    ]).start();
    const [before] = await query(`SELECT status, created_at, closed_at FROM users WHERE id = ?`, [ada.userId]);
    const [graceBefore] = await query(`SELECT * FROM users WHERE id = ?`, [grace.userId]);

    const done = await runVerified(t, SHOW, "DELETION", ada.email);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.deletionOutcome.find((l: any) => l.connector === "account-db")).to.deep.include({ redacted: 1, kept: 0, residual: 0, matchesPlan: true });
    const [after] = await query(`SELECT * FROM users WHERE id = ?`, [ada.userId]);
    expect(after).to.deep.equal({ id: ada.userId, email: "", name: "Deleted user", phone: null, company: null, job_title: null, payment_customer_id: null, ticketing_user_id: null, ...before });
    expect(await query(`SELECT * FROM users WHERE id = ?`, [grace.userId])).to.deep.equal([graceBefore]);
  });
});
