import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { approved } from "../support/harness";
import { GRACE } from "./support/authLogFixtures";
import { dynamoSuite, firstAttemptFailed, itemsOf } from "./support/dynamoSuite";
import { FAST } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status attempts lastError outcome { erased kept } }
  retentionExceptions { connector category recordCount holdId status } } }`;
const DAY = 86_400_000;

/**
 * A PURGE (Grace's auth events the 90-day rule kept, erased once the rule ends) whose first attempt
 * fails with a delete in doubt (done, answered 500, its read-back unanswered: its key noted), and a legal
 * hold on AUTH_LOGS placed before the retry: the retry, every category held, erases nothing more, yet
 * what the first attempt did (a delete counted by its unit, the noted one, which landed) is erased by
 * this purge, counted once, and the request's open exception keeps what the table still holds, the hold's
(it kept saying the 3 the deletion kept, 1 left). Checked against the table itself.
 */
describeEachDatabase("auth-log on DynamoDB: a purge whose categories are all held when its retry comes (dynalite)", (db) => {
  const s = dynamoSuite(db);

  // Before: the retry completed at once with erased 0, without calling the connector: the delete its
  // first attempt's unit counted and the noted one that landed (2 of the 3 kept items) were counted by no one.
  it("counts what the earlier attempt erased, the noted delete that landed read back, and sends no delete after the hold", async function () {
    this.timeout(150_000);
    const t = await s.service({ ...FAST, DSR_RETRY_BASE_MS: "60000", DSR_RETRY_MAX_MS: "60000" }, [s.f.connector({ pageSize: 10, deleteConcurrency: 1, timeoutMs: 400 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
    const state = async () => (await t.ok(SHOW, { id })).request;
    const deleted = await t.waitFor(async () => ((await state()).status === "COMPLETED" ? state() : undefined), "the deletion completed", 90_000);
    const kept = await itemsOf(s, GRACE.userId!);
    expect(kept, `the 90-day rule keeps some of Grace's events ${JSON.stringify(deleted)}`).to.be.within(2, before - 1);

    // The purge's first delete goes through; its second is done and answered 500, its read-back never answered.
    s.dynamo.deleteFaults.push(null, { lands: "now", answer: 500 });
    s.dynamo.holdReads(1, { operations: ["GetItem"] });
    t.clock.advance(100 * DAY);
    await firstAttemptFailed(t, SHOW, id, "PURGE");
    expect(s.dynamo.deleteFaults, "the fault was met").to.deep.equal([]);
    const hold = (await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE.email}", categories: ["AUTH_LOGS"], reason: "Litigation", caseReference: "CASE-PURGE" }) { id } }`)).placeLegalHold.id;
    const atHold = await itemsOf(s, GRACE.userId!);
    const deletesAtHold = s.dynamo.count("DeleteItem");
    t.clock.advance(120_000);
    const ended = await t.purgeEnded(SHOW, id, 60_000);
    const left = await itemsOf(s, GRACE.userId!);
    const purge = ended.tasks.find((y: any) => y.step === "PURGE");
    const seen = `${JSON.stringify(purge)} ${JSON.stringify(ended.retentionExceptions)}; table: ${kept} kept by the deletion -> ${atHold} at the hold -> ${left}`;
    console.log(`      ${db().kind} ${seen}`);
    expect(purge.status, seen).to.equal("SUCCEEDED");
    expect(purge.attempts, `the attempt that failed, then the retry under the hold ${seen}`).to.equal(2);
    expect(s.dynamo.count("DeleteItem"), `deletes sent after the hold ${seen}`).to.equal(deletesAtHold);
    expect(left, `Grace's items when the purge ended, against when the hold was placed ${seen}`).to.equal(atHold);
    expect(kept - left, `the delete answered, and the one answered 500 ${seen}`).to.equal(2);
    // What the table lost in the purge is what the purge says it erased, each once.
    expect(purge.outcome.erased, seen).to.equal(kept - left);
    // What the request says is kept is what the table holds, all of it the hold's (it said 3 where 1 was left).
    const open = ended.retentionExceptions.filter((e: any) => e.status === "OPEN");
    expect(open.reduce((n: number, e: any) => n + e.recordCount, 0), `kept, by the open exceptions ${seen}`).to.equal(left);
    expect(open.every((e: any) => e.holdId === hold), `every open exception is the hold's ${seen}`).to.equal(true);
    // The certificate issued now says so too.
    const certified = (await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { kept { connector records status } } }`, { id })).deletionCertificate.kept;
    expect(certified.filter((k: any) => k.status === "OPEN").reduce((n: number, k: any) => n + k.records, 0), `the certificate's open kept sets ${JSON.stringify(certified)}`).to.equal(left);
  });
});
