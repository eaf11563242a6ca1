import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { submit, TEST_START, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { collectAll, testContext } from "../src/connectors/testing/conformance";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "400" };
const ADA = "ada.lovelace@example.com";
const DAY = 86_400_000;
const PLAN = `deletionPlan { connector category found toErase toKeep keptBy legalBasis holdId retainUntil }`;
const EXCEPTIONS = `retentionExceptions { connector category recordType recordCount legalBasis holdId retainUntil status closedAt }`;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason concernsMinor tasks { connector step status lastError outcome { records erased kept remaining } } ${PLAN} ${EXCEPTIONS} } }`;

/** The platform's data about Ada, dated relative to the test clock. */
function platform(now: Date) {
  const ago = (days: number) => new Date(now.getTime() - days * DAY);
  const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(ADA, [ago(8 * 365), ago(3 * 365), ago(1)]);
  const authLog = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"] }).seedDated(ADA, [ago(200), ago(120), ago(30), ago(2)]);
  const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seedDated(ADA, [ago(6 * 365), ago(400)]);
  const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seedDated(ADA, [ago(5 * 365)]);
  return { ago, payments, authLog, tickets, account, all: [payments, authLog, tickets, account] };
}

describeEachDatabase("retention, legal holds and deletion plans", (db) => {
  let t: TestService;
  let p: ReturnType<typeof platform>;
  afterEach(async () => {
    await t?.stop();
  });
  async function start(env: Record<string, string> = {}) {
    p = platform(TEST_START);
    t = await new TestService(db(), { ...FAST, ...env }, p.all).start();
  }
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  async function deletion(extra: Record<string, unknown> = {}, status = "COMPLETED") {
    const r = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "signed-in session", ...extra });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const request = await show(r.id);
      return request.status === status ? { id: r.id, ...request } : undefined;
    }, `deletion ${status}`);
  }
  const erasedBy = (request: any) => Object.fromEntries(request.tasks.filter((x: any) => x.step === "ERASE").map((x: any) => [x.connector, x.outcome.erased]));
  const exceptionOf = (request: any, connector: string) => request.retentionExceptions.filter((e: any) => e.connector === connector);

  it("keeps a payment of 29 February until its period ends on 1 March, and erases the day before's (leap years)", async () => {
    const leapDay = new Date("2024-02-29T12:00:00.000Z");
    const dayBefore = new Date("2024-02-28T12:00:00.000Z");
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(ADA, [dayBefore, leapDay]);
    t = await new TestService(db(), FAST, [payments]).start();
    // Seven years on: 29 February 2031 does not exist, so the leap day's period runs to 1 March, 12:00.
    t.clock.set(new Date("2031-03-01T06:00:00.000Z"));
    const done = await deletion();
    expect(erasedBy(done)).to.deep.equal({ payments: 1 });
    expect(exceptionOf(done, "payments").map((e: any) => [e.recordCount, e.retainUntil])).to.deep.equal([[1, "2031-03-01T12:00:00.000Z"]]);
    // Asked of the system: the leap day's payment is still held, the day before's is gone.
    expect((await collectAll(payments, { email: ADA }, testContext())).map((r) => r.recordedAt?.toISOString())).to.deep.equal([leapDay.toISOString()]);
  });

  it("lists the published retention schedule, and takes DSR_RETENTION_RULES over the defaults", async () => {
    await start({ DSR_RETENTION_RULES: JSON.stringify([{ category: "AUTH_LOGS", period: "180 days", legalBasis: "fraud prevention", basisKind: "LEGITIMATE_INTEREST" }]) });
    const { retentionRules } = await t.ok(`{ retentionRules { category period years days countsFrom legalBasis keepsOnDeletion } }`);
    const byCategory = Object.fromEntries(retentionRules.map((r: any) => [r.category, r]));
    expect(byCategory.PAYMENTS).to.include({ period: "7 years", countsFrom: "RECORD_DATE", legalBasis: "tax and financial compliance", keepsOnDeletion: true });
    expect(byCategory.SUPPORT).to.include({ period: "5 years", legalBasis: "service quality and dispute resolution" });
    expect(byCategory.ACCOUNT).to.include({ period: "3 years", countsFrom: "ACCOUNT_CLOSURE", keepsOnDeletion: false });
    expect(byCategory.AUTH_LOGS).to.include({ period: "180 days", days: 180, legalBasis: "fraud prevention" });
  });

  it("plans before erasing, erases what no rule keeps, and records an exception, until when and why, for each kept set", async () => {
    await start();
    const done = await deletion();
    expect(erasedBy(done)).to.deep.equal({ payments: 1, "auth-log": 2, tickets: 1, "account-db": 1 });
    // Every survey finished before the first erasure started.
    const planned = Object.fromEntries(done.deletionPlan.map((l: any) => [l.connector, l]));
    expect(planned.payments).to.include({ found: 3, toErase: 1, toKeep: 2, keptBy: "RULE", legalBasis: "tax and financial compliance" });
    expect(planned["auth-log"]).to.include({ found: 4, toErase: 2, toKeep: 2, keptBy: "RULE" });
    expect(planned["account-db"]).to.include({ found: 1, toErase: 1, toKeep: 0, keptBy: null });
    expect(p.account.instructions[0].keepRecordedSince?.ACCOUNT, "account information does not outlast a deletion").to.equal(undefined);

    const [payments] = exceptionOf(done, "payments");
    expect(payments).to.include({ category: "PAYMENTS", recordCount: 2, legalBasis: "tax and financial compliance", status: "OPEN", closedAt: null, holdId: null });
    const newest = p.ago(1);
    newest.setUTCFullYear(newest.getUTCFullYear() + 7);
    expect(payments.retainUntil).to.equal(newest.toISOString());
    expect(planned.payments.retainUntil).to.equal(newest.toISOString());
    expect(exceptionOf(done, "auth-log")[0].retainUntil).to.equal(new Date(p.ago(2).getTime() + 90 * DAY).toISOString());
    // The verification pass found only what the exceptions allow.
    const eraseOf = (c: string) => done.tasks.find((x: any) => x.connector === c && x.step === "ERASE");
    expect(eraseOf("payments").outcome).to.include({ kept: 2, remaining: 2 });
    expect(eraseOf("account-db").outcome).to.include({ remaining: 0 });
  });

  it("fails the deletion loudly when records remain that no exception allows", async () => {
    await start();
    p.tickets.eraseIsNoop = true;
    const failed = await deletion({}, "FAILED");
    const erase = failed.tasks.find((x: any) => x.connector === "tickets" && x.step === "ERASE");
    expect(erase.status).to.equal("FAILED");
    expect(erase.lastError).to.match(/Verification after erasure found 1 record\(s\) still present outside the retention exceptions \(SUPPORT: 1\)/);
    expect(failed.statusReason).to.contain("tickets ERASE");
  });

  it("fails the deletion loudly when a connector reports a kept set whose period has already ended", async () => {
    await start();
    p.authLog.extraKept = [{ category: "AUTH_LOGS", type: "session", count: 3, newestRecordedAt: p.ago(400) }];
    const failed = await deletion({}, "FAILED");
    const erase = failed.tasks.find((x: any) => x.connector === "auth-log" && x.step === "ERASE");
    expect(erase.lastError).to.equal("The connector kept 3 session whose retention period has already ended; nothing was recorded as kept");
    expect(failed.retentionExceptions.filter((e: any) => e.connector === "auth-log")).to.deep.equal([]);
  });

  it("erases nothing of a category held between an erasure's first pass and its closing pass, and keeps what appeared meanwhile under the hold", async () => {
    // Payments needs the account database's user id: its erasure runs first, and again (the closing
    // pass) once the account database is erased. That one's first attempt fails, holding it back.
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"], provides: ["userId"] }, { userId: "u-1" }).seedDated(ADA, [new Date(TEST_START.getTime() - 5 * 365 * DAY)]);
    account.script("erase", { kind: "retryable", retryAfterMs: 1500 });
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"], needs: ["userId"] }).seedDated(ADA, [new Date(TEST_START.getTime() - 8 * 365 * DAY)]);
    t = await new TestService(db(), FAST, [account, payments]).start();
    const r = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (account.callsOf("erase").length === 1 ? true : undefined), "the account database's first erase attempt");
    expect(payments.callsOf("erase"), "payments' first pass ran").to.have.length(1);
    expect(payments.data.get(ADA), "its 8-year-old payment erased").to.equal(undefined);
    // Meanwhile a payment of hers is recorded (a late import, dated long ago), and PAYMENTS is held.
    payments.data.set(ADA, [{ category: "PAYMENTS", type: "row", id: "late-1", data: { n: 1 }, recordedAt: new Date(TEST_START.getTime() - 9 * 365 * DAY) }]);
    const { placeLegalHold: hold } = await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-9" }) { id } }`);
    // The test's clock moves past the account database's retry.
    t.clock.advance(2000);
    const done = await t.waitFor(async () => {
      const request = await show(r.id);
      return request.status === "COMPLETED" ? request : undefined;
    }, "deletion COMPLETED");
    // The closing pass ran with PAYMENTS withdrawn: the connector was shown no held category, and
    // the late payment, asked of the system, is still there; the request keeps it under the hold.
    const passes = payments.instructions.map((i) => i.categories);
    expect(passes.length, "a closing pass ran").to.be.greaterThan(1);
    expect(passes.slice(1).every((c) => !c.includes("PAYMENTS"))).to.equal(true);
    expect(payments.data.get(ADA)?.map((x) => x.id)).to.deep.equal(["late-1"]);
    expect(exceptionOf(done, "payments").filter((e: any) => e.status === "OPEN").map((e: any) => [e.holdId, e.recordCount])).to.deep.equal([[hold.id, 1]]);
  });

  it("keeps held categories whole, never showing them to the connector, and purges them once the hold is released", async () => {
    await start();
    const forbidden = await t.gql(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", reason: "litigation", caseReference: "CASE-1" }) { id } }`, {}, Role.AUDITOR);
    expect(forbidden.errors?.[0].extensions?.code).to.equal("FORBIDDEN");
    const { placeLegalHold: hold } = await t.ok(
      `mutation { placeLegalHold(input: { subjectEmail: "Ada.Lovelace@example.com", categories: ["PAYMENTS", "SUPPORT"], reason: "Dispute over invoices", caseReference: "CASE-1" }) { id subjectEmail categories status placedAt } }`,
      {},
      Role.PRIVACY_OFFICER,
    );
    expect(hold).to.include({ subjectEmail: ADA, status: "ACTIVE" });
    expect(hold.categories).to.deep.equal(["PAYMENTS", "SUPPORT"]);

    const done = await deletion();
    expect(erasedBy(done)).to.deep.equal({ payments: 0, "auth-log": 2, tickets: 0, "account-db": 1 });
    expect(p.payments.instructions[0].categories).to.deep.equal([]);
    expect(p.payments.data.get(ADA)).to.have.length(3);
    const [held] = exceptionOf(done, "payments");
    expect(held).to.include({ category: "PAYMENTS", recordType: "all", recordCount: 3, legalBasis: "legal hold CASE-1", holdId: hold.id, retainUntil: null, status: "OPEN" });
    expect(done.deletionPlan.find((l: any) => l.connector === "tickets")).to.include({ keptBy: "HOLD", toKeep: 2, toErase: 0, holdId: hold.id });

    const released = await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Case settled") { status releasedAt releaseReason } }`, { id: hold.id });
    expect(released.releaseLegalHold).to.include({ status: "RELEASED", releaseReason: "Case settled" });
    const again = await t.gql(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "twice") { status } }`, { id: hold.id });
    expect(again.errors?.[0].extensions?.code).to.equal("CONFLICT");

    // The purge erases what the hold alone kept; what a rule still keeps becomes a rule exception.
    const after = await t.waitFor(async () => {
      const r = await show(done.id);
      return r.retentionExceptions.filter((e: any) => e.holdId && e.status === "CLOSED").length === 2 ? r : undefined;
    }, "held exceptions closed");
    expect(p.payments.data.get(ADA)!.map((r) => r.id)).to.deep.equal(["payments-1", "payments-2"]);
    expect(p.tickets.data.get(ADA)!.map((r) => r.id)).to.deep.equal(["tickets-1"]);
    const open = after.retentionExceptions.filter((e: any) => e.status === "OPEN").map((e: any) => `${e.connector}:${e.recordCount}:${e.legalBasis}`).sort();
    expect(open).to.deep.equal(["auth-log:2:security monitoring and fraud prevention", "payments:2:tax and financial compliance", "tickets:1:service quality and dispute resolution"]);
    expect(after.status, "a purge does not reopen the request").to.equal("COMPLETED");

    const { legalHolds } = await t.ok(`{ legalHolds(subjectEmail: "ADA.LOVELACE@example.com") { id status caseReference } }`);
    expect(legalHolds).to.deep.equal([{ id: hold.id, status: "RELEASED", caseReference: "CASE-1" }]);
    const { auditEvents } = await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id: done.id });
    expect(auditEvents.map((e: any) => e.action)).to.include("task.purge_scheduled");
  });

  it("purges each kept set when its period ends: 90 days, 5 years, 7 years", async () => {
    await start();
    const done = await deletion();
    const openCount = async () => (await show(done.id)).retentionExceptions.filter((e: any) => e.status === "OPEN").length;
    expect(await openCount()).to.equal(3);
    const moveTo = async (days: number, left: number, check: () => void) => {
      t.clock.advance(days * DAY);
      await t.waitFor(async () => ((await openCount()) === left ? true : undefined), `${left} exceptions left`);
      check();
    };
    // The newest kept event is 2 days old: its set is due 88 days on (checked before, not racing the purge).
    await moveTo(87, 3, () => expect(p.authLog.data.get(ADA)).to.have.length(2));
    await moveTo(2, 2, () => expect(p.authLog.data.get(ADA)).to.equal(undefined));
    await moveTo(4 * 365, 1, () => expect(p.tickets.data.get(ADA)).to.equal(undefined));
    expect(p.payments.data.get(ADA)).to.have.length(2);
    await moveTo(3 * 365, 0, () => expect(p.payments.data.get(ADA)).to.equal(undefined));
    const r = await show(done.id);
    expect(r.retentionExceptions.every((e: any) => e.status === "CLOSED" && e.closedAt)).to.equal(true);
  });

  it("for a minor, runs first and keeps only what a legal obligation requires", async () => {
    await start();
    const done = await deletion({ concernsMinor: true });
    expect(done.concernsMinor).to.equal(true);
    expect(erasedBy(done)).to.deep.equal({ payments: 1, "auth-log": 4, tickets: 2, "account-db": 1 });
    expect(done.retentionExceptions.map((e: any) => e.connector)).to.deep.equal(["payments"]);
    const [row] = await t.ds.query(`SELECT MIN(priority) AS p FROM tasks`);
    expect(Number(row.p)).to.equal(10);
  });

  it("previews a deletion without changing anything, with the plan the deletion then executes", async () => {
    await start();
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["SUPPORT"], reason: "Complaint under review", caseReference: "OMB-7" }) { id } }`);
    const { previewDeletion } = await t.ok(
      `mutation { previewDeletion(input: { subject: { email: "${ADA}" } }) { computedAt lines { connector category found toErase toKeep keptBy legalBasis retainUntil } notSurveyed { connector reason } } }`,
    );
    expect(await t.count("tasks")).to.equal(0);
    expect(p.payments.data.get(ADA)).to.have.length(3);
    expect(p.all.every((c) => c.callsOf("erase").length === 0)).to.equal(true);
    const done = await deletion();
    const strip = (lines: any[]) => lines.map(({ connector, category, found, toErase, toKeep, keptBy, legalBasis, retainUntil }) => ({ connector, category, found, toErase, toKeep, keptBy, legalBasis, retainUntil })).sort((a, b) => a.connector.localeCompare(b.connector));
    expect(strip(previewDeletion.lines)).to.deep.equal(strip(done.deletionPlan));
    expect(previewDeletion.lines.find((l: any) => l.connector === "tickets")).to.include({ keptBy: "HOLD", toKeep: 2, legalBasis: "legal hold OMB-7" });
  });
});
