import { expect } from "chai";
import type { SqlConnector } from "../../src/connectors/sql";
import { Role } from "../../src/domain/enums";
import { describeEachOf } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { forumProfiles, sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const LEASE_MS = 2_000;
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: String(LEASE_MS) };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordCount status } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;
/** Ada's profiles, without a date: a hold keeps them, and its release has the purge erase them by id. */
const KEPT = 300;
/** What each DELETE of a profile costs in the database (a trigger sleeps): 300 of them take 3 s, past the lease. */
const ROW_MS = 10;

/**
 * A purge erases what a deletion kept without a date by id, one guarded statement per row. All of one
 * chunk (500 rows) used to be one unit of erasure: on a busy database the unit outlived the task's
 * lease, the attempt lost it and went on erasing beside its retry, and the retry counted only what it
 * still found (the purge said 73 erased where 372 were). Units now end well within the lease. The
 * database here makes every DELETE slow on purpose, so the old units outlive the lease on any machine.
 */
describeEachOf(["mariadb"], "erasure on a database slow to delete", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;

  beforeEach(async () => {
    const ids = Array.from({ length: KEPT }, (_, i) => `p-${i}`);
    connector = await forumProfiles(db(), query, ids, { idLength: 20, ddl: [`CREATE TRIGGER profiles_slow_delete BEFORE DELETE ON profiles FOR EACH ROW DO SLEEP(${ROW_MS / 1000})`] });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  it("erases every kept profile in units that end within the lease, in one attempt, and counts exactly what the database lost", async function () {
    this.timeout(120_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-11" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["COMMUNITY", KEPT]]);

    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await t.purgeEnded(SHOW, deletion.id, 90_000);
    const purge = after.tasks.find((y: any) => y.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    // The database itself: every kept profile gone, Grace's there.
    expect((await query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id))).to.deep.equal(["grace-1"]);
    // Counted as it happened: one attempt (no lease lost), every profile erased once.
    expect(purge.outcome.erased, "erased, as the purge reports it").to.equal(KEPT);
    expect(purge.attempts, "attempts of the purge").to.equal(1);
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["COMMUNITY", KEPT, "CLOSED"]]);
  });
  // One DELETE of 300 rows takes 3 s, past the 2 s lease: the first attempt loses its lease mid-statement,
  // and its retry finds nothing left. The rows that statement erased used to be counted by neither (the
  // deletion reported 0 erased of 300); the retry now waits for the other attempt's unit to end, and counts it.
  it("counts exactly what the database lost when an attempt lost its lease mid-statement", async function () {
    this.timeout(120_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect((await query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id))).to.deep.equal(["grace-1"]);
    const erase = deletion.tasks.find((y: any) => y.step === "ERASE");
    expect(erase.outcome.erased, "erased, as the deletion reports it").to.equal(KEPT);
    expect(erase.attempts, "the first attempt lost its lease").to.be.at.least(2);
  });
});
