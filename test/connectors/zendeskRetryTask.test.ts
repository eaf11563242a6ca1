import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { whenEnded } from "../identity/support";
import { GRACE_PERSON, retryingZendeskEach } from "./support/zendeskStandIn";

const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const REPORT = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { id connector step status attempts lastError outcome { erased erasedInDoubt } }
  deletionOutcome { connector plannedFound erased kept residual matchesPlan differences { kind records } } } }`;
const RETRY = `mutation($id: ID!) { retryTask(id: $id) { status } }`;

/**
 * An ERASE that FAILED for good between the two steps of Grace's user delete (soft-deleted, then the
 * permanent delete answered 500 with no attempt left), which an operator's retryTask runs again. The
 * retried run starts its attempts from 1, and must still get the failed attempt's note back: a user
 * Zendesk holds soft-deleted is found by no search (nor, her address being a secondary one, among
 * deleted_users), so only the note leads to her. Checked against the stand-in's own data, through GraphQL.
 */
describeEachDatabase("a Zendesk erasure that failed between the soft and the permanent delete of the user, retried by an operator", (db) => {
  // Her address is a secondary one: deleted_users shows only a user's primary address.
  const s = retryingZendeskEach(
    db,
    (standIn) => {
      const grace = standIn.store.user(GRACE_ID)!;
      grace.secondary_emails = [grace.email];
      grace.email = "grace.primary@elsewhere.example";
    },
    { DSR_TASK_MAX_ATTEMPTS: "1" },
  );

  /** Grace's deletion run until it FAILED on her permanent delete; `between` runs before the retryTask; the request as it ended after it. */
  const failedThenRetried = async (between: () => Promise<void> = async () => {}) => {
    const { z, t } = s;
    z.faults.add({ kind: "500", method: "DELETE", path: /^\/api\/v2\/deleted_users\/\d+\.json$/, times: 1 });
    const r = await submit(t, { type: "DELETION", subject: { email: GRACE_PERSON.email }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const failed = await whenEnded(t, REPORT, r.id);
    expect(failed.status, JSON.stringify(failed.tasks)).to.equal("FAILED");
    // The stand-in: her user soft-deleted, not deleted for good.
    expect(z.store.effects.userSoftDeletes).to.equal(1);
    expect(z.store.effects.userPermanentDeletes).to.equal(0);
    expect(z.store.user(GRACE_ID)?.active).to.equal(false);
    await between();
    const after = z.calls.entries.length;
    const erase = failed.tasks.find((x: any) => x.step === "ERASE");
    expect((await t.ok(RETRY, { id: erase.id })).retryTask.status).to.equal("PENDING");
    const retried = await whenEnded(t, REPORT, r.id);
    return { failed, retried, sent: z.calls.entries.slice(after), units: Number((await t.ds.query(`SELECT COUNT(*) AS n FROM erasure_units WHERE taskId = ?`, [erase.id]))[0].n) };
  };

  it("finishes her user's permanent delete from the failed attempt's note, and counts it once", async () => {
    const { z } = s;
    const { retried, sent, units } = await failedThenRetried();
    const line = retried.deletionOutcome.find((l: any) => l.connector === "ticketing");
    console.log(`      ${db().kind} ${JSON.stringify({ ...line, userHeld: z.store.user(GRACE_ID) !== undefined, units })}`);
    expect(retried.status, JSON.stringify(retried.tasks)).to.equal("COMPLETED");
    // The stand-in: her user is deleted for good, by the retried run (was: left soft-deleted, reported erased).
    expect(z.store.user(GRACE_ID)).to.equal(undefined);
    expect(z.store.effects.userPermanentDeletes).to.equal(1);
    expect(sent.filter((c: any) => c.method === "DELETE" && /deleted_users\/\d+\.json/.test(c.path)).length).to.equal(1);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
    expect(units, "notes left behind").to.equal(0);
  });

  it("sends nothing once a hold on SUPPORT is placed before the retryTask, and reports her user as Zendesk holds it", async () => {
    const { z, t } = s;
    const { failed, retried, sent } = await failedThenRetried(async () => {
      await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE_PERSON.email}", categories: ["SUPPORT"], reason: "Dispute", caseReference: "CASE-ZD" }) { id } }`);
    });
    expect(retried.status, JSON.stringify(retried.tasks)).to.equal("COMPLETED");
    // The stand-in: no write after the hold; her user still there, soft-deleted.
    expect(sent.filter((c: any) => c.method !== "GET").map((c: any) => `${c.method} ${c.path}`)).to.deep.equal([]);
    expect(z.store.user(GRACE_ID)?.active).to.equal(false);
    const line = retried.deletionOutcome.find((l: any) => l.connector === "ticketing");
    console.log(`      ${db().kind} ${JSON.stringify(line)}`);
    // Her user, still in Zendesk, is not counted erased by the failed attempt: its note settled it as not
    // gone (was: erased 20 of 20, 5 ERASED_BY_FAILED_ATTEMPT). Erased: what the failed attempt's units confirmed.
    expect(line.differences.map((d: any) => d.kind)).not.to.include("ERASED_BY_FAILED_ATTEMPT");
    expect(line.erased).to.equal(failed.tasks.find((x: any) => x.step === "ERASE").outcome.erased);
    expect(line.erased).to.be.lessThan(line.plannedFound);
  });
});
