import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { approved } from "../support/harness";
import { GRACE } from "./support/authLogFixtures";
import type { DeleteFault } from "./support/authLogDynamo";
import { deletionEnded, dynamoSuite, firstAttemptFailed, itemsOf } from "./support/dynamoSuite";
import { FAST } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status attempts lastError outcome { erased kept } }
  deletionOutcome { connector plannedFound plannedToErase erased kept residual matchesPlan differences { kind records } }
  retentionExceptions { connector category recordCount holdId status } } }`;

/**
 * A delete whose answer did not say whether it landed, the attempt that sent it failing right after
 * (its unit noted the key for the next attempt), and a legal hold on AUTH_LOGS placed through GraphQL
 * before the retry: the retry may delete nothing more, and settles the noted key by reading only. What
 * the deletion reports erased and kept is checked against the table itself.
 */
describeEachDatabase("auth-log on DynamoDB: a delete in doubt when a legal hold on AUTH_LOGS comes before the retry (dynalite)", (db) => {
  const s = dynamoSuite(db);

  /** Grace's deletion, one delete at a time, the third meeting `fault`; the hold placed once the first attempt failed. */
  const deletion = async (fault: DeleteFault, holdReadBack: boolean) => {
    const t = await s.service({ ...FAST, DSR_RETRY_BASE_MS: "60000", DSR_RETRY_MAX_MS: "60000" }, [s.f.connector({ pageSize: 10, deleteConcurrency: 1, timeoutMs: 400 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    s.dynamo.deleteFaults.push(null, null, fault);
    if (holdReadBack) s.dynamo.holdReads(1, { operations: ["GetItem"] });
    const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
    await firstAttemptFailed(t, SHOW, id, "ERASE");
    expect(s.dynamo.deleteFaults, "the fault was met").to.deep.equal([]);
    const hold = await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE.email}", categories: ["AUTH_LOGS"], reason: "Litigation", caseReference: "CASE-AUTH" }) { id } }`);
    const atHold = await itemsOf(s, GRACE.userId!);
    const deletesAtHold = s.dynamo.count("DeleteItem");
    t.clock.advance(120_000);
    const { ended, erase, line } = await deletionEnded(t, SHOW, id);
    const left = await itemsOf(s, GRACE.userId!);
    const seen = `${JSON.stringify(ended.tasks.map((y: any) => [y.step, y.status, y.attempts, y.lastError]))} ${ended.statusReason} ${JSON.stringify(line)} table: ${before} -> ${atHold} at the hold -> ${left}`;
    console.log(`      ${db().kind} ${seen}`);
    expect(ended.status, seen).to.equal("COMPLETED");
    expect(erase.attempts, `the attempt that failed, then the retry under the hold ${seen}`).to.equal(2);
    // Nothing is written under the hold: no delete sent, and the table holds what it held when the hold came.
    expect(s.dynamo.count("DeleteItem"), `deletes sent after the hold ${seen}`).to.equal(deletesAtHold);
    expect(left, `Grace's items when the deletion ended, against when the hold was placed ${seen}`).to.equal(atHold);
    // What the table lost is erased by this deletion, each once; what it still holds is kept by the hold:
    // the one difference from the plan is what the hold keeps of what the plan was to erase, none FEWER_RECORDS.
    expect(line, seen).to.deep.include({ plannedFound: before, erased: before - left, kept: left, residual: 0, matchesPlan: false });
    expect(line.differences, seen).to.deep.equal([{ kind: "HELD_SINCE_PLAN", records: line.plannedToErase - (before - left) }]);
    expect(erase.outcome, seen).to.deep.include({ erased: before - left, kept: left });
    const exceptions = ended.retentionExceptions.filter((e: any) => e.connector === "auth-log" && e.holdId === hold.placeLegalHold.id);
    expect(exceptions.map((e: any) => [e.category, e.recordCount, e.status]), seen).to.deep.equal([["AUTH_LOGS", left, "OPEN"]]);
    return { before, left };
  };

  // Before: the retry returned at once under the hold and its delete note was dropped: the third delete,
  // which had landed, was named no longer there: erased 2 of the 3 the table lost, FEWER_RECORDS 1.
  it("done, answered 500, its read-back unanswered: the retry under the hold reads it gone and counts it erased", async function () {
    this.timeout(150_000);
    const { before, left } = await deletion({ lands: "now", answer: 500 }, true);
    expect(before - left, "the two deletes answered, and the one answered 500").to.equal(3);
  });

  it("cut at timeoutMs and still there when read back (never done): the retry under the hold reads it there and keeps it, never deleting it", async function () {
    this.timeout(150_000);
    const { before, left } = await deletion({ lands: "later", answer: "none" }, false);
    expect(before - left, "only the two deletes answered").to.equal(2);
  });
});
