import { expect } from "chai";
import type { SqlConnector } from "../../src/connectors/sql";
import { MAX_UNDATED_KEPT_CHARS } from "../../src/domain/counting";
import { Role } from "../../src/domain/enums";
import { describeEachSqlDialect } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { forumProfiles, sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status lastError outcome { erased kept residual } }
  retentionExceptions { category recordType recordCount status }
  residualRecords { connector category recordType records reason }
  auditEvents { action details } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;

/** 400 profiles of Ada, ids of 40 characters: 400 x 43 characters of ids as stored, past MAX_UNDATED_KEPT_CHARS. */
const KEPT = 400;
const profileId = (i: number) => `profile-${String(i).padStart(32, "0")}`;
/** How many of them fit in the ids a deletion stores (each id quoted, and a comma). */
const STORED = Math.floor(MAX_UNDATED_KEPT_CHARS / (profileId(0).length + 3));

/**
 * A deletion that kept more records without a date than the ids it stores (MAX_UNDATED_KEPT_CHARS).
 * Its purge used to find all such records again by the person's address, silently: after a hold's
 * release it deleted the profile she had made since the deletion too (401 erased where the deletion kept
 * 400), counted under the old request, with no trail event and no report line. Checked against the
 * account database's own rows.
 */
describeEachSqlDialect("a purge of more records without a date than the deletion stored ids of", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;

  beforeEach(async () => {
    connector = await forumProfiles(db(), query, Array.from({ length: KEPT }, (_, i) => profileId(i)), { idLength: 80 });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  it("erases by id the profiles whose ids it stored, leaves the profile she made since, and names the rest residual and in the trail", async function () {
    this.timeout(120_000);
    expect(STORED).to.be.lessThan(KEPT);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-9" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["COMMUNITY", KEPT]]);

    // She makes a new profile under the same address; then the hold is released.
    await query(`INSERT INTO profiles (id, email, bio) VALUES ('ada-new', ?, 'Ada again')`, [ADA]);
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await t.purgeEnded(SHOW, deletion.id, 60_000);
    const purge = after.tasks.find((y: any) => y.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);

    // The account database itself: her new profile stays, as does Grace's; of the kept ones, those beyond the stored ids stay.
    const left = (await query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id));
    expect(left, "the profile she made since the deletion").to.include("ada-new");
    expect(left).to.include("grace-1");
    expect(left.filter((id) => id.startsWith("profile-")), "the kept profiles beyond the stored ids").to.have.length(KEPT - STORED);
    // Counted as they are: the stored ones erased, the rest residual, nothing of hers since.
    expect(purge.outcome.erased).to.equal(STORED);
    expect(purge.outcome.residual).to.equal(KEPT - STORED);
    expect(after.residualRecords.map((r: any) => [r.connector, r.category, r.recordType, r.records])).to.deep.equal([["forum-db", "COMMUNITY", "profile", KEPT - STORED]]);
    expect(after.residualRecords[0].reason).to.match(/without a date/);
    const events = after.auditEvents.filter((e: any) => e.action === "purge.undated_beyond_ids");
    expect(events.map((e: any) => [e.details.connector, e.details.category, e.details.recordType, e.details.records])).to.deep.equal([["forum-db", "COMMUNITY", "profile", KEPT - STORED]]);
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["COMMUNITY", KEPT, "CLOSED"]]);
  });
});
