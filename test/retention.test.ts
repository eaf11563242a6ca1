import { expect } from "chai";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };
const ADA = "ada.lovelace@example.com";
const DAY = 86_400_000;

describeEachDatabase("retention on deletion", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("lists the published retention schedule", async () => {
    t = await new TestService(db(), FAST).start();
    const { retentionRules } = await t.ok(`{ retentionRules { category period years days countsFrom legalBasis keepsOnDeletion } }`);
    const byCategory = Object.fromEntries(retentionRules.map((r: any) => [r.category, r]));
    expect(byCategory.PAYMENTS).to.include({ period: "7 years", countsFrom: "RECORD_DATE", legalBasis: "tax and financial compliance", keepsOnDeletion: true });
    expect(byCategory.AUTH_LOGS).to.include({ period: "90 days", days: 90, legalBasis: "security monitoring and fraud prevention" });
    expect(byCategory.SUPPORT).to.include({ period: "5 years", legalBasis: "service quality and dispute resolution" });
    expect(byCategory.ACCOUNT).to.include({ period: "3 years", countsFrom: "ACCOUNT_CLOSURE", keepsOnDeletion: false });
  });

  it("erases what no rule keeps and records an exception, until when and why, for each kept set", async () => {
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] });
    const authLog = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"] });
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
    t = await new TestService(db(), FAST, [payments, authLog, account]).start();
    const now = t.clock.now().getTime();
    const ago = (days: number) => new Date(now - days * DAY);
    payments.seedDated(ADA, [ago(8 * 365), ago(3 * 365), ago(1)]);
    authLog.seedDated(ADA, [ago(200), ago(120), ago(30), ago(2)]);
    account.seedDated(ADA, [ago(5 * 365)]);

    const r = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await t.waitFor(async () => {
      const { request } = await t.ok(
        `query($id: ID!) { request(id: $id) { status tasks { connector outcome { erased } } retentionExceptions { connector category recordType recordCount legalBasis retainUntil status closedAt } } }`,
        { id: r.id },
      );
      return request.status === "COMPLETED" ? request : undefined;
    }, "deletion COMPLETED");

    const erased = Object.fromEntries(done.tasks.map((x: any) => [x.connector, x.outcome.erased]));
    expect(erased).to.deep.equal({ payments: 1, "auth-log": 2, "account-db": 1 });
    const keepSince = payments.instructions[0].keepRecordedSince!;
    expect(keepSince.PAYMENTS!.getUTCFullYear()).to.equal(t.clock.now().getUTCFullYear() - 7);
    expect(account.instructions[0].keepRecordedSince?.ACCOUNT, "account information does not outlast a deletion").to.equal(undefined);

    const exceptions = Object.fromEntries(done.retentionExceptions.map((e: any) => [e.connector, e]));
    expect(Object.keys(exceptions).sort()).to.deep.equal(["auth-log", "payments"]);
    expect(exceptions.payments).to.include({ category: "PAYMENTS", recordCount: 2, legalBasis: "tax and financial compliance", status: "OPEN", closedAt: null });
    const newestPayment = ago(1);
    newestPayment.setUTCFullYear(newestPayment.getUTCFullYear() + 7);
    expect(exceptions.payments.retainUntil).to.equal(newestPayment.toISOString());
    expect(exceptions["auth-log"]).to.include({ category: "AUTH_LOGS", recordCount: 2, legalBasis: "security monitoring and fraud prevention" });
    expect(exceptions["auth-log"].retainUntil).to.equal(new Date(ago(2).getTime() + 90 * DAY).toISOString());

    const { auditEvents } = await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: r.id });
    const succeeded = auditEvents.filter((e: any) => e.action === "task.succeeded").map((e: any) => e.details);
    expect(succeeded.find((d: any) => d.connector === "payments")).to.include({ erased: 1, kept: 2 });
  });
});
