import { expect } from "chai";
import { DataSource } from "typeorm";
import type { SqlConnector } from "../../src/connectors/sql";
import { Role } from "../../src/domain/enums";
import { describeEachOf } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { forumProfiles, sqlSuiteHooks } from "./support/accountDb";
import { endOf, FAST, LEASE_MS, PLACE, runningLike, ServerKind, slowTrigger } from "./support/slowWrites";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordCount status } } }`;
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
/** Ada's deletion, submitted and approved (the test then watches it run, the service's clock as the test keeps it). */
async function approvedDeletion(t: TestService): Promise<{ id: string }> {
  const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  return r;
}

describeEachOf(["mariadb", "postgres"], "erasure on a database slow to delete", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  const { query } = suite;
  const kind = () => db().kind as ServerKind;
  let connector: SqlConnector;
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;

  beforeEach(async () => {
    const ids = Array.from({ length: KEPT }, (_, i) => `p-${i}`);
    connector = await forumProfiles(db(), query, ids, { idLength: 20, ddl: slowTrigger(kind(), "DELETE", ROW_MS / 1000) });
  });
  afterEach(async () => {
    clearInterval(ticking);
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
  // One DELETE of 300 rows takes 3 s, past the 2 s lease. It used to run on after the attempt lost its lease
  // (its retry found nothing and counted 0 of 300 erased, until retries waited for it). The statement is now
  // cut before its unit ends (rolled back: nothing erased), and the rows go in smaller chunks that end in
  // time, in the same attempt; the count is what the database lost.
  it("completes on a table where one chunk's DELETE outlasts the lease, counting exactly what the database lost", async function () {
    this.timeout(120_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect((await query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id))).to.deep.equal(["grace-1"]);
    const erase = deletion.tasks.find((y: any) => y.step === "ERASE");
    expect(erase.outcome.erased, "erased, as the deletion reports it").to.equal(KEPT);
    expect(erase.attempts, "no lease lost").to.equal(1);
  });
  // A DELETE of 300 rows takes 3 s against a 2 s lease. A hold placed while it runs waits for its unit; the
  // unit used to expire (2 s) while the statement went on, so the hold was answered "placed" and the
  // statement then erased the held profiles (all 300, after the answer). No statement of a unit may now
  // outlive it: the database cuts it before the unit's end, it erases nothing, and the hold keeps all.
  it("erases nothing a hold placed while a unit's statement runs keeps: the statement ends before its unit", async function () {
    this.timeout(120_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    // The service's clock runs as a real one does: units expire on it, as in production.
    ticking = setInterval(() => t?.clock.advance(20), 20);
    const ada = async () => Number((await query(`SELECT COUNT(*) AS n FROM profiles WHERE email = ?`, [ADA]))[0].n);
    const r = await approvedDeletion(t);
    await t.waitFor(async () => (Number((await query(runningLike(kind(), "%DELETE FROM%profiles%", ROW_MS / 1000)))[0].n) > 0 ? true : undefined), "the DELETE running", 60_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-12" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await ada();
    const ended = await endOf(t, SHOW, r.id);
    // The database itself: every profile of Ada's there when the hold was answered is still there. (The
    // placement may come after the first statement was cut and a smaller chunk erased before it: those
    // went before the hold.)
    const now = await ada();
    expect(atPlacement, "Ada's profiles when the hold was answered").to.be.greaterThan(0);
    expect(now, "Ada's profiles after the deletion ended (the hold keeps those it met)").to.equal(atPlacement);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["COMMUNITY", atPlacement]]);
    expect(ended.tasks.find((y: any) => y.step === "ERASE").outcome.erased, "erased, as the deletion reports it").to.equal(KEPT - atPlacement);
  });
});

/**
 * SQLite has no statement timeout, and needs none in one process: better-sqlite3 runs a statement
 * synchronously, so while it runs nothing else of the process does (no heartbeat, no sweeper, no hold
 * placement), and it has committed before a placement of that process reads the units. Here a profile's
 * DELETE costs 10 ms of the process and of the service's clock (a function the trigger calls), so the
 * 300-row statement takes 3 s on both, past the 2 s lease and the unit's end; a hold placement is sent
 * as the statement starts. It is answered only after the statement committed: the profiles were erased
 * before the hold, not after it was answered, and the deletion counts them erased.
 */
describeEachOf(["sqlite"], "erasure on a database slow to delete, in-process", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  const { query } = suite;
  let connector: SqlConnector;
  let own: DataSource;
  let t: TestService | undefined;
  let placing: Promise<unknown> | undefined;
  let placedWith: number | undefined;
  /** The service's clock when the statement's first row was deleted and when its last one was. */
  let span: [number, number] | undefined;

  beforeEach(async () => {
    const file = db().url.slice("sqlite:".length);
    own = new DataSource({
      type: "better-sqlite3",
      database: file,
      prepareDatabase: (raw: { function(name: string, fn: () => number): void }) =>
        raw.function("slow_row", () => {
          placing ??= t!.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-13" } }, Role.PRIVACY_OFFICER);
          const until = performance.now() + ROW_MS;
          while (performance.now() < until);
          t!.clock.advance(ROW_MS);
          span = [span?.[0] ?? t!.clock.now().getTime() - ROW_MS, t!.clock.now().getTime()];
          return 0;
        }),
    });
    await own.initialize();
    const ids = Array.from({ length: KEPT }, (_, i) => `p-${i}`);
    connector = await forumProfiles(db(), query, ids, { idLength: 20, ddl: [`CREATE TRIGGER profiles_slow_delete BEFORE DELETE ON profiles BEGIN SELECT slow_row(); END`], dataSource: own });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    placing = undefined;
    span = undefined;
    await connector.close();
    await own.destroy();
  });

  it("answers a hold sent while a unit's statement runs only after the statement committed", async function () {
    this.timeout(120_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const ada = async () => Number((await query(`SELECT COUNT(*) AS n FROM profiles WHERE email = ?`, [ADA]))[0].n);
    const r = await approvedDeletion(t);
    await t.waitFor(async () => (placing ? true : undefined), "the DELETE running", 60_000);
    await placing;
    placedWith = await ada();
    const ended = await endOf(t, SHOW, r.id);
    expect(span![1] - span![0], "the statement outlasted the lease on the service's clock").to.be.greaterThan(LEASE_MS);
    // The hold was answered with every profile already gone: erased before it, by a statement that had committed.
    expect(placedWith, "Ada's profiles when the hold was answered").to.equal(0);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.tasks.find((y: any) => y.step === "ERASE").outcome.erased).to.equal(KEPT);
    expect(ended.retentionExceptions).to.deep.equal([]);
  });
});
