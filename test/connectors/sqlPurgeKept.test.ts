import { expect } from "chai";
import { createSqlConnector, SqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import { HELD_BACK_ROW_CHANGED } from "../../src/connectors/sql/foreignKeys";
import { Role } from "../../src/domain/enums";
import { describeEachSqlDialect } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status lastError outcome { erased kept residual } }
  retentionExceptions { category recordType recordCount status }
  residualRecords { recordType records reason }
  auditEvents { action details } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;
/** Ada's two notes, long before the test clock (2026-03-02): nothing but the hold keeps them. */
const OLD = ["2015-01-15T00:00:00.000Z", "2016-06-01T00:00:00.000Z"];

/** Accounts without a date (undated: told apart only by id) and notes with one (recorded_at). */
function config(): SqlConnectorConfig {
  return {
    name: "club-db",
    version: "1.0.0",
    tables: [
      { table: "pk_members", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "member", primaryKey: "id", exportColumns: ["email", "name"], erase: { strategy: "DELETE" } },
      { table: "pk_notes", identityColumn: "email", identityKind: "email", category: "SUPPORT", recordType: "note", primaryKey: "id", exportColumns: ["body", "recorded_at"], recordedAtColumn: "recorded_at", erase: { strategy: "DELETE" } },
    ],
  };
}

/**
 * A purge of what a legal hold kept, on a database whose account rows carry no date: it used to erase
 * the person's rows by address, so the account she opened after the deletion went too, and the note
 * she wrote since was counted into the old request's kept sets (4 erased and 1 kept, a new exception,
 * where the deletion kept 3). Now the rows the deletion kept are erased by their keys, the notes by
 * the deletion's time, and what she made since stays, uncounted. Checked in the tables themselves.
 */
describeEachSqlDialect("SQL connector: a purge erases the rows its deletion kept, by key", (db) => {
  const suite = sqlSuiteHooks(db, ["pk_notes", "pk_members"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;
  const date = (at: Date | string) => (db().kind === "sqlite" ? new Date(at).toISOString() : new Date(at));
  const rows = async (table: string) => (await query(`SELECT id, email FROM ${table} ORDER BY id`)).map((r) => [Number(r.id), r.email]);

  beforeEach(async () => {
    for (const table of ["pk_notes", "pk_members"]) await query(`DROP TABLE IF EXISTS ${table}`);
    const stamp = db().kind === "sqlite" ? "TEXT" : db().kind === "mariadb" ? "DATETIME(3)" : "TIMESTAMPTZ(3)";
    await query(`CREATE TABLE pk_members (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, name VARCHAR(200))`);
    await query(`CREATE TABLE pk_notes (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, body VARCHAR(200), recorded_at ${stamp} NOT NULL)`);
    await query(`INSERT INTO pk_members (id, email, name) VALUES (1, ?, 'Ada'), (2, ?, 'Grace')`, [ADA, GRACE]);
    await query(`INSERT INTO pk_notes (id, email, body, recorded_at) VALUES (1, ?, 'a', ?), (2, ?, 'b', ?), (3, ?, 'g', ?)`, [ADA, date(OLD[0]), ADA, date(OLD[1]), GRACE, date(OLD[0])]);
    connector = createSqlConnector(config(), { url: db().url, timeoutMs: 5000 });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  /** Ada's deletion under a hold on both categories, ended: the hold's id and the request. */
  const deletedUnderHold = async () => {
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["ACCOUNT", "SUPPORT"], reason: "litigation", caseReference: `S-${db().kind}` } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount]).sort()).to.deep.equal([
      ["ACCOUNT", 1],
      ["SUPPORT", 2],
    ]);
    return { hold, deletion };
  };
  /** The request once its purge ended, read again after: one read's tasks and exceptions are two queries, and the purge's commit may fall between them. */
  const purged = async (id: string) => {
    await t!.purgeEnded(SHOW, id);
    return (await t!.ok(SHOW, { id })).request;
  };

  it("erases the member row and notes the hold kept, and leaves the account and note she made since, uncounted", async function () {
    this.timeout(60_000);
    const { hold, deletion } = await deletedUnderHold();
    // She joins again with the same address (a new row, with no date) and writes a note.
    t!.clock.advance(60_000);
    await query(`INSERT INTO pk_members (id, email, name) VALUES (3, ?, 'Ada again')`, [ADA]);
    await query(`INSERT INTO pk_notes (id, email, body, recorded_at) VALUES (4, ?, 'new', ?)`, [ADA, date(t!.clock.now())]);
    await t!.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(await rows("pk_members")).to.deep.equal([
      [2, GRACE],
      [3, ADA],
    ]);
    expect(await rows("pk_notes")).to.deep.equal([
      [3, GRACE],
      [4, ADA],
    ]);
    expect(purge.outcome.erased, "the 3 rows the deletion kept").to.equal(3);
    expect(purge.outcome.kept ?? 0).to.equal(0);
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED", "CLOSED"]);
    expect(after.residualRecords).to.deep.equal([]);
  });

  it("leaves a kept row whose key now holds someone else's data, named residual, and counts a kept note already gone as gone, not erased", async function () {
    this.timeout(60_000);
    const { hold, deletion } = await deletedUnderHold();
    // Meanwhile her member row was given to someone else, and one of her notes deleted by hand.
    await query(`UPDATE pk_members SET email = ?, name = 'Someone' WHERE id = 1`, ["someone.else@example.com"]);
    await query(`DELETE FROM pk_notes WHERE id = 1`);
    await t!.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(await rows("pk_members")).to.deep.equal([
      [1, "someone.else@example.com"],
      [2, GRACE],
    ]);
    expect(await rows("pk_notes")).to.deep.equal([[3, GRACE]]);
    expect(purge.outcome.erased, "only the note still there").to.equal(1);
    expect(after.residualRecords).to.deep.equal([{ recordType: "member", records: 1, reason: HELD_BACK_ROW_CHANGED }]);
  });
});
