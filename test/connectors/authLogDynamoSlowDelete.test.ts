import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit, type TestService } from "../support/harness";
import { ADA, ADA_EVENTS, GRACE } from "./support/authLogFixtures";
import { dynamoSuite, itemsOf } from "./support/dynamoSuite";
import { endOf, FAST, PLACE } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordCount status } } }`;

/**
 * The auth log on a slow DynamoDB: every delete reaches the table 900 ms after it was sent, and is
 * done then even if the connector gave up on it. A unit of erasure ends (on the service's clock) at its
 * lease; a hold placed meanwhile is answered once it has ended, and no delete may land after that.
 */
describeEachDatabase("auth-log erasure on a slow DynamoDB (dynalite behind a delaying proxy)", (db) => {
  const s = dynamoSuite(db);

  const itemsOfAda = () => itemsOf(s, ADA.userId!);

  /**
   * Ada's deletion on a slow table (`slow` sets the proxy's delay, in ms), one delete call at a time,
   * pages of 500 and no heartbeat from the connector within a page, so a page's deletes outlast the 2 s
   * lease unless the store bounds them by their unit; a hold on her auth logs is placed once the first
   * delete was sent. Checks that the table lost nothing after the hold was answered, once any delete
   * still on its way could have landed, and that the request reports what the table lost and holds.
   */
  const holdMidErasure = async (caseReference: string, slow: () => number) => {
    const connector = s.f.connector({ pageSize: 500, deleteConcurrency: 1, heartbeatEveryMs: 60_000 });
    const t = await s.service(FAST, [connector], true);
    const settleMs = 2 * slow();
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (s.dynamo.count("DeleteItem") > 0 ? true : undefined), "the first delete sent", 30_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["AUTH_LOGS"], reason: "litigation", caseReference } }, Role.PRIVACY_OFFICER);
    const atPlacement = await itemsOfAda();
    const ended = await endOf(t, SHOW, r.id);
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const now = await itemsOfAda();
    const erased = ended.tasks.find((y: any) => y.step === "ERASE").outcome.erased;
    const seen = { atPlacement, now, erased, sent: s.dynamo.count("DeleteItem"), dropped: s.dynamo.droppedDeletes };
    expect(now, `Ada's items after the deletion ended (the hold keeps those it met) ${JSON.stringify(seen)}`).to.equal(atPlacement);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["AUTH_LOGS", now]]);
    expect(erased, "erased, as the deletion reports it").to.equal(ADA_EVENTS.length - now);
    return seen;
  };

  it("deletes nothing after a hold placed while deletes were slow was answered: no delete is sent that could outlive its unit", async function () {
    this.timeout(60_000);
    // Every delete reaches dynalite 900 ms after it was sent, whether or not the client still waits.
    const seen = await holdMidErasure("K-31", () => (s.dynamo.slowDeletesMs = 900));
    expect(seen.atPlacement, "Ada's items when the hold was answered").to.be.within(1, ADA_EVENTS.length - 1);
  });

  it("lands no delete it gave up on after the unit ended: the call's connection is closed at its deadline", async function () {
    this.timeout(60_000);
    // Every delete waits 2.5 s at the proxy, as long as its connection is open: past its unit (a 2 s
    // lease gives 1.5 s), and short of the client's timeoutMs (10 s by default), which the SDK only
    // warns about. A delete given up on but left open would land after the hold was answered.
    const seen = await holdMidErasure("K-32", () => (s.dynamo.holdDeletesMs = 2_500));
    expect(seen.dropped, "every delete sent was taken back before it could land").to.equal(seen.sent);
  });
});

/**
 * A unit of erasure lasts three quarters of the task's lease, and a DynamoDB delete is sent only with
 * 500 ms to be answered and as long again to be waited out: a shorter lease would fail every erasure
 * having sent nothing, so the service refuses it at start.
 */
describeEachDatabase("auth-log on DynamoDB under a short task lease", (db) => {
  const s = dynamoSuite(db);
  const env = (leaseMs: number) => ({ ...FAST, DSR_TASK_LEASE_MS: String(leaseMs) });

  it("refuses to start with a lease whose units cannot hold one delete, naming DSR_TASK_LEASE_MS and the least it needs", async () => {
    const failure = await s.service(env(1466), [s.f.connector()]).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).to.equal(
      "invalid configuration:\n  - DSR_TASK_LEASE_MS is 1466 ms, too short for connector auth-log: a unit of erasure lasts three quarters of the lease, and its erase needs 1100 ms of one to write anything; set DSR_TASK_LEASE_MS to 1467 or more",
    );
  });

  it("erases what the policy does not keep at the least lease it accepts", async function () {
    this.timeout(60_000);
    const t = await s.service(env(1467), [s.f.connector({ deleteConcurrency: 1 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    const r = await submit(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const ended = await endOf(t, SHOW, r.id);
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    // The retention policy keeps her events of the last 90 days: the rest leave the table.
    const left = await itemsOf(s, GRACE.userId!);
    expect({ erased: erase.outcome.erased, kept: erase.outcome.kept }, "as the deletion reports it").to.deep.equal({ erased: before - left, kept: left });
    expect(left, "Grace's items kept").to.be.within(1, before / 2);
  });
});
