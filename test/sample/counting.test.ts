import { expect } from "chai";
import pino from "pino";
import type { Identities } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TestService } from "../support/harness";
import { sharedResidue } from "../connectors/support/zendeskStandIn";
import { shiftByPeriod } from "../../src/domain/retention";
import { SHARED_THREAD_REASON } from "../../src/connectors/zendesk/records";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const LINE = "connector category found toErase toKeep toLeaveResidual";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionPlan { ${LINE} keptBy }
  deletionOutcome { connector category plannedFound plannedToErase plannedToKeep erased redacted kept residual matchesPlan differences { kind records reason } }
  residualRecords { connector recordType records fields reason }
  tasks { connector step status outcome { erased kept residual redacted remaining } }
  retentionExceptions { connector category recordType recordCount holdId status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records kept redacted residual } kept { connector category records } residual { connector records } } }`;

type Line = { connector: string; category: string; found: number; toErase: number; toKeep: number; toLeaveResidual: number };
const lineKey = (l: { connector: string; category: string }) => `${l.connector}/${l.category}`;

describeEachDatabase("the counting rule on the sample workspace", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  async function start(env: Record<string, string> = {}): Promise<void> {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 300, people: 20, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", ...env }, ws.connectors).start();
  }

  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  const identitiesOf = async (email: string): Promise<Identities> => ({ email, ...(await ws.connectors[0].resolve!({ email }, testContext())) });
  const preview = async (email: string): Promise<Line[]> => (await t.ok(`mutation { previewDeletion(input: { subject: { email: "${email}" } }) { lines { ${LINE} } } }`)).previewDeletion.lines;

  async function deletion(email: string): Promise<string> {
    const r = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id;
  }

  /** Waits for the request to end; the clock ticks so that polls of remote work come due. */
  async function finished(id: string): Promise<any> {
    return t.waitFor(
      async () => {
        t.clock.advance(2);
        const now = await show(id);
        return now.status === "IN_PROGRESS" ? undefined : now;
      },
      "deletion finished",
      90_000,
    );
  }

  /** Waits, moving the clock so that polls come due, until the payments ERASE waits in REMOTE_PROCESSING for Stripe. */
  const paymentsWaitForStripe = (id: string) =>
    t.waitFor(async () => {
      t.clock.advance(2);
      const now = await show(id);
      return now.tasks.some((x: any) => x.connector === "payments" && x.step === "ERASE" && x.status === "REMOTE_PROCESSING") ? now : undefined;
    }, "the payments erasure waiting for Stripe", 60_000);

  /** What the stores still hold, asked of the systems themselves, per connector. */
  async function held(ids: Identities): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const c of ws.connectors) out[c.spec.name] = (await collectAll(c, ids)).length;
    return out;
  }

  /** The Stripe stand-in's charges and invoices of a customer that still carry the subject's email. */
  function stripeObjectsWithEmail(customer: string, email: string): number {
    const charges = ws.stripe.store.all("charge").filter((c) => c.customer === customer && (c.billing_details as Record<string, unknown>)?.email === email);
    const invoices = ws.stripe.store.all("invoice").filter((i) => i.customer === customer && i.customer_email === email);
    return charges.length + invoices.length;
  }

  /** Plan, outcome, exceptions, certificate and the stores agree, line by line. */
  async function expectAllAgree(id: string, done: any, ids: Identities, except: string[] = []): Promise<void> {
    const plan: (Line & { keptBy: string | null })[] = done.deletionPlan;
    expect(plan.length).to.be.greaterThan(0);
    const outcome = new Map<string, any>(done.deletionOutcome.map((o: any) => [lineKey(o), o]));
    expect([...outcome.keys()].sort(), "one outcome line per plan line").to.deep.equal(plan.map(lineKey).sort());
    const open = done.retentionExceptions.filter((e: any) => e.status === "OPEN");
    // What stays on threads the subject opened that another customer wrote on: named residual (sharedTickets.test.ts).
    const outsideRule = shiftByPeriod(t.clock.now(), { years: 5, days: 0 }, -1);
    const shared = ids.ticketingUserId ? sum(Object.values(sharedResidue(ws.zendesk, Number(ids.ticketingUserId), outsideRule)), (n) => n) : 0;
    const residualOf = (l: { connector: string; category: string }) => (lineKey(l) === "ticketing/SUPPORT" ? shared : 0);
    for (const p of plan) {
      const o = outcome.get(lineKey(p));
      expect({ found: o.plannedFound, toErase: o.plannedToErase, toKeep: o.plannedToKeep }, lineKey(p)).to.deep.equal({ found: p.found, toErase: p.toErase, toKeep: p.toKeep });
      const kept = sum(open.filter((e: any) => lineKey(e) === lineKey(p)), (e: any) => e.recordCount);
      expect(kept, `${lineKey(p)}: exceptions keep what the outcome says`).to.equal(o.kept);
      if (except.includes(lineKey(p))) continue;
      const r = residualOf(p);
      const differences = o.differences.map((d: any) => ({ kind: d.kind, records: d.records }));
      // The plan foresaw that residue (toLeaveResidual), so the line equals the plan's.
      expect(p.toLeaveResidual, `${lineKey(p)}: the plan foresaw the residue`).to.equal(r);
      expect({ erased: o.erased, kept: o.kept, residual: o.residual, matchesPlan: o.matchesPlan, differences }, lineKey(p)).to.deep.equal({
        erased: p.toErase,
        kept: p.toKeep,
        residual: r,
        matchesPlan: true,
        differences: [],
      });
    }
    const cert = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    for (const e of cert.erased) {
      const lines = done.deletionOutcome.filter((o: any) => o.connector === e.connector);
      expect({ records: e.records, kept: e.kept, residual: e.residual, redacted: e.redacted }, `certificate: ${e.connector}`).to.deep.equal({
        records: sum(lines, (o: any) => o.erased),
        kept: sum(lines, (o: any) => o.kept),
        residual: sum(lines, (o: any) => o.residual),
        redacted: sum(lines, (o: any) => o.redacted),
      });
    }
    expect(sum(cert.kept.filter((k: any) => open.some((e: any) => lineKey(e) === lineKey(k))), (k: any) => k.records)).to.equal(sum(open, (e: any) => e.recordCount));
    expect(cert.residual).to.deep.equal(done.residualRecords.map((r: any) => ({ connector: r.connector, records: r.records })));
    // The systems themselves: what collect finds is exactly what the outcome says is kept (and, while the
    // ticketing user stays with kept threads, what it names residual: collect no longer finds a deleted user's).
    const left = await held(ids);
    const userStays = ids.ticketingUserId !== undefined && ws.zendesk.store.user(Number(ids.ticketingUserId)) !== undefined;
    for (const c of ws.connectors) {
      const lines = done.deletionOutcome.filter((o: any) => o.connector === c.spec.name);
      const visible = sum(lines, (o: any) => o.kept) + (c.spec.name === "ticketing" && userStays ? sum(lines, (o: any) => o.residual) : 0);
      expect(left[c.spec.name], `${c.spec.name} still holds`).to.equal(visible);
    }
  }

  it("makes the plan's lines, the outcome, the exceptions, the certificate and the stores agree, for Grace and for Ada", async function () {
    this.timeout(240_000);
    await start();
    for (const email of [GRACE, ADA]) {
      const ids = await identitiesOf(email);
      const dryRun = await preview(email);
      const id = await deletion(email);
      const done = await finished(id);
      expect(done.status, done.statusReason).to.equal("COMPLETED");
      expect(done.deletionPlan.map((l: any) => ({ ...l, keptBy: undefined }))).to.deep.equal(dryRun.map((l) => ({ ...l, keptBy: undefined })));
      const residualSets = done.residualRecords.filter((r: any) => r.reason !== SHARED_THREAD_REASON || r.connector !== "ticketing");
      expect(residualSets, "residual but what stays on threads another customer wrote on").to.deep.equal([]);
      await expectAllAgree(id, done, ids);
      // Payments older than 7 years were redacted at Stripe (none of them still names the subject); the kept ones still do.
      const payments = done.deletionOutcome.find((o: any) => o.connector === "payments");
      const keptBilling = done.retentionExceptions.filter((e: any) => e.connector === "payments" && ["charge", "invoice"].includes(e.recordType));
      expect(stripeObjectsWithEmail(ids.paymentCustomerId!, email)).to.equal(sum(keptBilling, (e: any) => e.recordCount));
      if (email === ADA) expect(payments.redacted, "Ada's old charges and invoices were redacted").to.be.greaterThan(0);
    }
  });

  it("shows a hold placed after the plan as a named difference, and finishes Stripe's redaction jobs across a restart", async function () {
    this.timeout(240_000);
    await start();
    const ids = await identitiesOf(ADA);
    ws.stripe.redaction.paused = true;
    const id = await deletion(ADA);
    await paymentsWaitForStripe(id);
    const jobs = ws.stripe.store.redactionJobs.size;
    expect(jobs).to.be.greaterThan(0);
    // The account database is erased last (it holds the ids the others need): a hold placed now is after the plan.
    const { placeLegalHold: hold } = await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["ACCOUNT"], reason: "Fraud investigation", caseReference: "FR-7" }) { id } }`);
    await t.restart();
    ws.stripe.redaction.paused = false;
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    const account = done.deletionOutcome.find((o: any) => o.connector === "account-db");
    expect(account).to.deep.include({ erased: 0, kept: account.plannedFound, matchesPlan: false });
    expect(account.differences).to.deep.equal([{ kind: "HELD_SINCE_PLAN", records: account.plannedToErase, reason: "legal hold FR-7 was placed after the plan and keeps the category whole" }]);
    expect(done.retentionExceptions.filter((e: any) => e.connector === "account-db").map((e: any) => e.holdId)).to.deep.equal([hold.id]);
    await expectAllAgree(id, done, ids, ["account-db/ACCOUNT"]);

    // Stripe: every job was created once (the restart polled the stored ones), ran and succeeded.
    expect(ws.stripe.store.redactionJobs.size).to.equal(jobs);
    expect(ws.stripe.store.effectCount("redaction_job.create")).to.equal(jobs);
    expect([...ws.stripe.store.redactionJobs.values()].map((j) => j.status)).to.deep.equal(Array(jobs).fill("succeeded"));
    const redacted = ws.stripe.store.all("invoice").filter((i) => i.customer === ids.paymentCustomerId && i.customer_email === "[redacted]");
    expect(redacted.length).to.be.greaterThan(0);
    const payments = done.deletionOutcome.find((o: any) => o.connector === "payments");
    expect(payments.redacted).to.equal(sum([...ws.stripe.store.redactionJobs.values()], (j) => j.objects.charges.length + j.objects.invoices.length));
  });

  /** Waits, moving the clock so that polls come due, until a payment redaction job at Stripe is in one of `statuses`. */
  async function jobReaches(id: string, statuses: string[]): Promise<void> {
    await t.waitFor(async () => {
      if ([...ws.stripe.store.redactionJobs.values()].some((j) => statuses.includes(j.status))) return true;
      t.clock.advance(2);
      await show(id);
      return undefined;
    }, `a redaction job ${statuses.join(" or ")}`, 60_000);
  }
  const PAYMENTS_HOLD = `mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CB-9" }) { id } }`;
  const redactedInvoices = (customer: string) => ws.stripe.store.all("invoice").filter((i) => i.customer === customer && i.customer_email === "[redacted]").length;

  it("cancels Stripe redaction jobs not yet run when a hold on PAYMENTS arrives, and counts their objects as the hold's", async function () {
    this.timeout(240_000);
    await start();
    const ids = await identitiesOf(ADA);
    const before = await held(ids);
    ws.stripe.redaction.paused = true;
    const id = await deletion(ADA);
    await paymentsWaitForStripe(id);
    expect([...ws.stripe.store.redactionJobs.values()].map((j) => j.status)).to.include("validating");
    const { placeLegalHold: hold } = await t.ok(PAYMENTS_HOLD);
    ws.stripe.redaction.paused = false;
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // Stripe: no job ran, none redacted anything; every one was canceled.
    const jobs = [...ws.stripe.store.redactionJobs.values()];
    expect(jobs.map((j) => j.status).filter((s) => !["canceling", "canceled"].includes(s))).to.deep.equal([]);
    expect(ws.stripe.store.effectCount("redaction_job.run")).to.equal(0);
    expect(redactedInvoices(ids.paymentCustomerId!)).to.equal(0);
    // The report: erased is what left the system before the hold; what is left is the hold's, nothing residual.
    const left = (await held(ids)).payments;
    const erase = done.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE");
    expect(erase.outcome.erased).to.equal(before.payments - left);
    expect(erase.outcome.residual ?? 0).to.equal(0);
    const byHold = done.retentionExceptions.filter((e: any) => e.connector === "payments" && e.holdId === hold.id && e.status === "OPEN");
    expect(sum(byHold, (e: any) => e.recordCount)).to.equal(left);
    expect(left, "the objects of the canceled jobs are still there").to.be.at.least(sum(jobs, (j) => j.objects.charges.length + j.objects.invoices.length));
  });

  it("refuses a hold on PAYMENTS with CONFLICT while a Stripe redaction job it cannot call back is redacting, and places it once the job ended", async function () {
    this.timeout(240_000);
    await start({ DSR_HOLD_WAIT_MS: "300" });
    const ids = await identitiesOf(ADA);
    const id = await deletion(ADA);
    await jobReaches(id, ["redacting"]);
    ws.stripe.redaction.paused = true;
    const refused = await t.gql(PAYMENTS_HOLD);
    expect(refused.errors?.[0].extensions.code).to.equal("CONFLICT");
    expect(refused.errors?.[0].message).to.include("PAYMENTS through connector payments for deletion request").and.include(id).and.include("cannot be called back").and.include("REMOTE_PROCESSING");
    expect(await t.count("legal_holds")).to.equal(0);
    // Another category is not fenced by it.
    expect((await t.gql(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["AUTH_LOGS"], reason: "Fraud", caseReference: "FR-1" }) { id } }`)).errors).to.equal(undefined);
    ws.stripe.redaction.paused = false;
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(redactedInvoices(ids.paymentCustomerId!)).to.be.greaterThan(0);
    expect(await t.count("erasure_units")).to.equal(0);
    expect((await t.gql(PAYMENTS_HOLD)).errors).to.equal(undefined);
  });

  it("names what a refused redaction leaves as residual, never as erased, in the outcome and the certificate", async function () {
    this.timeout(240_000);
    await start();
    const ids = await identitiesOf(ADA);
    // Stripe refuses to redact every one of Ada's invoices.
    for (const i of ws.stripe.store.all("invoice").filter((x) => x.customer === ids.paymentCustomerId)) ws.stripe.redaction.refuse.add(i.id);
    const id = await deletion(ADA);
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const payments = done.deletionOutcome.find((o: any) => o.connector === "payments");
    expect(payments.residual).to.be.greaterThan(0);
    expect(payments.erased + payments.kept + payments.residual).to.equal(payments.plannedFound);
    expect(payments.differences.map((d: any) => d.kind)).to.deep.equal(["RESIDUAL"]);
    const residual = done.residualRecords.filter((r: any) => r.connector === "payments");
    expect(sum(residual, (r: any) => r.records)).to.equal(payments.residual);
    for (const r of residual) {
      expect(r.reason).to.match(/redaction job failed validation \(.*invalid_state.*\)/);
      expect(r.fields.length).to.be.greaterThan(0);
    }
    // The stand-in agrees: that many objects still carry Ada's email beyond the kept ones.
    const keptBilling = done.retentionExceptions.filter((e: any) => e.connector === "payments" && ["charge", "invoice"].includes(e.recordType));
    expect(stripeObjectsWithEmail(ids.paymentCustomerId!, ADA)).to.equal(sum(keptBilling, (e: any) => e.recordCount) + payments.residual);
    const cert = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    expect(cert.erased.find((e: any) => e.connector === "payments")).to.deep.include({ records: payments.erased, residual: payments.residual });
    expect(sum(cert.residual.filter((r: any) => r.connector === "payments"), (r: any) => r.records)).to.equal(payments.residual);
  });

  it("reads the survey's records again after erasure: residue under a deleted customer still fails the deletion loudly", async function () {
    this.timeout(240_000);
    await start();
    const ids = await identitiesOf(GRACE);
    // Eight years on, every one of Grace's payments is past its period: the customer goes, and with it
    // the way collect finds her charges and invoices. A processor that only claims to redact them:
    t.clock.advance(8 * 365 * 86_400_000);
    ws.stripe.redaction.pretend = true;
    const id = await deletion(GRACE);
    const done = await finished(id);
    expect(done.status).to.equal("FAILED");
    const payments = done.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE");
    expect(payments.status).to.equal("FAILED");
    const left = stripeObjectsWithEmail(ids.paymentCustomerId!, GRACE);
    expect(left, "the stand-in still holds her billing details").to.be.greaterThan(0);
    expect(done.statusReason).to.contain(`Verification after erasure found ${left} record(s) still present`);
    // Collect finds them too, under her deleted customer's id (before, it passed a deleted customer over).
    expect((await collectAll(ws.connectors.find((c) => c.spec.name === "payments")!, ids)).length, "collect sees them by the customer's id").to.equal(left);
  });
});
