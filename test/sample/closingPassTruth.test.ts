import { expect } from "chai";
import pino from "pino";
import { personalFields, StripeKind } from "../../src/connectors/stripe/records";
import { shiftByPeriod } from "../../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TEST_START, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  progress { total finished fraction }
  deletionOutcome { connector category plannedFound plannedToErase plannedToKeep erased redacted kept residual matchesPlan differences { kind records } }
  residualRecords { connector recordType records }
  tasks { connector step status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted residual } residual { connector recordType records } } }`;
const SEVEN_YEARS = { years: 7, days: 0 };

/**
 * A deletion's closing passes (armClosingPasses: each erasure that ran before the identity source's runs
 * again once that one is erased) report what the systems hold after them: nothing erased twice or both
 * erased and residual, and a progress that never goes backwards.
 */
describeEachDatabase("a deletion's closing passes, reported as the systems hold them", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  async function start(): Promise<void> {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
  }

  async function approvedDeletion(): Promise<string> {
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id;
  }

  /**
   * Approves Ada's deletion with the ticketing erasure held up at its first delete, so the account
   * database (erased last, and what arms the closing passes) waits; returns once the payments erasure's
   * first pass has ended, with the held delete (release it to go on).
   */
  async function deletionPastPaymentsFirstPass(): Promise<{ id: string; deleting: ReturnType<SampleWorkspace["zendesk"]["faults"]["pause"]> }> {
    const deleting = ws.zendesk.faults.pause({ method: "DELETE", path: "/api/v2/tickets/" });
    const id = await approvedDeletion();
    await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id })).request;
      return now.tasks.some((x: any) => x.connector === "payments" && x.step === "ERASE" && x.status === "SUCCEEDED") ? true : undefined;
    }, "the payments erasure's first pass ended, naming what Stripe refused residual", 60_000);
    return { id, deleting };
  }

  /** Polls the request until it ends (the clock ticks so that Stripe's redaction jobs are polled), calling `each` with every reading. */
  const finished = (id: string, each: (now: any) => void = () => undefined): Promise<any> =>
    t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id })).request;
      each(now);
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 120_000);

  /**
   * Stripe can redact from now on: the refusal is lifted and the canceled job has finished canceling
   * (its objects are free again). Then the erasures go on, the closing passes come, and the deletion
   * (read once it ended) COMPLETED.
   */
  async function redactableFromNowOn(id: string, deleting: { reached: Promise<unknown>; release(): void }): Promise<any> {
    ws.stripe.redaction.refuse.clear();
    for (const job of ws.stripe.store.redactionJobs.values()) if (job.status === "canceling") ws.stripe.store.putJob({ ...job, status: "canceled" }, "redaction_job.canceled");
    await deleting.reached;
    deleting.release();
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    return done;
  }

  /** Ada's Stripe objects outside the 7-year rule that still hold personal data, read from the stand-in. */
  function oldObjectsWithPersonalData(customer: string): number {
    const cutoff = shiftByPeriod(TEST_START, SEVEN_YEARS, -1).getTime() / 1000;
    return (["charge", "invoice"] as StripeKind[]).reduce(
      (n, kind) => n + ws.stripe.store.all(kind).filter((o) => o.customer === customer && (o.created as number) < cutoff && personalFields(kind, o).length > 0).length,
      0,
    );
  }

  it("counts what Stripe refused to redact in the first pass and redacted in the closing pass as erased, not also as residual", async function () {
    this.timeout(180_000);
    await start();
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    expect(oldest.created as number, "Ada's oldest charge is outside the 7-year rule").to.be.lessThan(shiftByPeriod(TEST_START, SEVEN_YEARS, -1).getTime() / 1000);
    const before = oldObjectsWithPersonalData(customer);
    expect(before, "Ada has old charges and invoices for a redaction job").to.be.greaterThan(1);
    // Stripe refuses the first job (its oldest charge is in a state it will not redact).
    ws.stripe.redaction.refuse.add(oldest.id);
    const { id, deleting } = await deletionPastPaymentsFirstPass();
    const done = await redactableFromNowOn(id, deleting);
    const jobs = [...ws.stripe.store.redactionJobs.values()].map((j) => j.status);
    expect(jobs, "a job failed (the first pass) and one succeeded (the closing pass)").to.include.members(["canceled", "succeeded"]);

    // Stripe itself: none of Ada's old charges and invoices still holds her data.
    const stillHeld = oldObjectsWithPersonalData(customer);
    expect(stillHeld, "Stripe redacted every old charge and invoice").to.equal(0);
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    expect({ erased: line.erased, redacted: line.redacted, residual: line.residual }, "the outcome: what left Stripe, and what is still there").to.deep.equal({ erased: before, redacted: before, residual: stillHeld });
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(line.differences, "nothing appeared after the plan, and nothing is residual").to.deep.equal([]);
    expect(line.matchesPlan).to.equal(true);
    expect(done.residualRecords.filter((r: any) => r.connector === "payments")).to.deep.equal([]);
    const certificate = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    expect(certificate.erased.find((e: any) => e.connector === "payments")).to.include({ records: before, redacted: before, residual: stillHeld });
    expect(sum(certificate.residual.filter((r: any) => r.connector === "payments"), (r: any) => r.records)).to.equal(stillHeld);
  });

  it("counts as redacted what the closing pass's job redacted beside what the first pass's jobs did", async function () {
    this.timeout(180_000);
    await start();
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    // Enough old charges for a second job, which Stripe runs in the first pass; it refuses the one with the oldest charge.
    for (let i = 0; i < 10; i++) ws.stripe.store.put({ ...oldest, id: `${oldest.id}r${i}`, invoice: null }, "seeded");
    const before = oldObjectsWithPersonalData(customer);
    ws.stripe.redaction.refuse.add(oldest.id);
    const { id, deleting } = await deletionPastPaymentsFirstPass();
    expect(oldObjectsWithPersonalData(customer), "the first pass redacted some, Stripe refused some").to.be.within(1, before - 1);
    const done = await redactableFromNowOn(id, deleting);
    expect(oldObjectsWithPersonalData(customer), "Stripe redacted every old charge and invoice").to.equal(0);
    // What Stripe's jobs that ran redacted, read from the stand-in.
    const byJobs = sum([...ws.stripe.store.redactionJobs.values()].filter((j) => j.status === "succeeded"), (j) => Object.values(j.objects).reduce((n, ids) => n + ids.length, 0));
    expect(byJobs).to.equal(before);
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    // Before: 10 of the 16 counted redacted (the first pass's job); the closing pass's job went uncounted.
    expect({ erased: line.erased, redacted: line.redacted, residual: line.residual }).to.deep.equal({ erased: before, redacted: byJobs, residual: 0 });
    const certificate = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    expect(certificate.erased.find((e: any) => e.connector === "payments")).to.include({ records: before, redacted: byJobs, residual: 0 });
  });

  it("still names what Stripe refused in both passes residual, once", async function () {
    this.timeout(180_000);
    await start();
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    ws.stripe.redaction.refuse.add(oldest.id);
    const id = await approvedDeletion();
    // A canceled job finishes canceling (its objects are free for the next job) as soon as a reading
    // sees it, whenever that is; Stripe still refuses the charge in every job.
    const done = await finished(id, () => {
      for (const job of ws.stripe.store.redactionJobs.values()) if (job.status === "canceling") ws.stripe.store.putJob({ ...job, status: "canceled" }, "redaction_job.canceled");
    });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const stillHeld = oldObjectsWithPersonalData(customer);
    expect(stillHeld, "the refused job's charges and invoices still hold Ada's data").to.be.greaterThan(0);
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    expect(line.residual, "residual: what Stripe still holds").to.equal(stillHeld);
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(sum(done.residualRecords.filter((r: any) => r.connector === "payments"), (r: any) => r.records)).to.equal(stillHeld);
  });

  it("counts each closing pass as a step of its own: progress never goes backwards, and shows the passes still to run", async function () {
    this.timeout(180_000);
    await start();
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    // Stripe refuses the first pass's job, so the payments closing pass starts a job of its own, and
    // Stripe takes its time with it: the request waits there with the closing passes under way.
    ws.stripe.redaction.refuse.add(oldest.id);
    const id = await approvedDeletion();
    const readings: { status: string; finished: number; total: number; fraction: number }[] = [];
    let during: any;
    const done = await finished(id, (now) => {
      readings.push({ status: now.status, ...now.progress });
      const erase = (c: string) => now.tasks.find((x: any) => x.connector === c && x.step === "ERASE");
      if (!ws.stripe.redaction.paused && !during && erase("payments").status === "SUCCEEDED" && erase("account-db").status !== "SUCCEEDED") ws.stripe.redaction.paused = true;
      if (!during && erase("account-db").status === "SUCCEEDED" && erase("payments").status === "REMOTE_PROCESSING") {
        during = now;
        ws.stripe.redaction.paused = false;
      }
    });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(during, "a reading while the payments closing pass waited for Stripe").to.not.equal(undefined);

    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id })).auditEvents;
    const passes = events.filter((e: any) => e.action === "task.closing_pass_armed").length;
    expect(passes, "the auth log, payments and ticketing erasures each had a closing pass").to.equal(3);
    expect(during.progress.finished, "while the passes run, work is shown left").to.be.lessThan(during.progress.total);
    for (const [i, r] of readings.entries()) {
      // One response reads the request's row, then its tasks: the last task may end between the two
      // reads, so the reading just before COMPLETED may show every step finished.
      if (r.status === "IN_PROGRESS" && readings[i + 1]?.status !== "COMPLETED") expect(r.finished, `reading ${i}: an open request has steps left`).to.be.lessThan(r.total);
      if (i === 0) continue;
      const before = readings[i - 1];
      expect(r.finished, `reading ${i}: finished never goes backwards (${before.finished}/${before.total} then ${r.finished}/${r.total})`).to.be.at.least(before.finished);
      expect(r.fraction, `reading ${i}: nor does the fraction`).to.be.at.least(before.fraction);
      expect(r.total, `reading ${i}: the steps were known from the start`).to.equal(before.total);
    }
    expect(done.progress, "at the end: every task and every closing pass").to.deep.equal({ total: done.tasks.length + passes, finished: done.tasks.length + passes, fraction: 1 });
  });

  it("counts residue once when a hold on its category comes between the passes: kept by the hold, not also residual", async function () {
    this.timeout(180_000);
    await start();
    const ada = ws.people.find((p) => p.email === ADA)!;
    const customer = ada.paymentCustomerId!;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    ws.stripe.redaction.refuse.add(oldest.id);
    const cutoff = shiftByPeriod(TEST_START, { years: 5, days: 0 }, -1).getTime();
    const old = ws.zendesk.store.ticketsRequestedBy(Number(ada.ticketingUserId)).filter((x) => new Date(x.updated_at).getTime() < cutoff);
    expect(old.length, "Ada has a thread outside the 5-year rule").to.be.at.least(1);
    const { id, deleting } = await deletionPastPaymentsFirstPass();
    await deleting.reached;
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-7" }) { id } }`);
    deleting.release();
    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // Stripe itself: what the payments connector still finds of Ada (the refused objects among it).
    const held = (await collectAll(ws.connectors.find((c) => c.spec.name === "payments")!, { email: ADA, paymentCustomerId: customer })).length;
    expect(oldObjectsWithPersonalData(customer), "the refused charges and invoices still hold Ada's data").to.be.greaterThan(0);
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    expect({ kept: line.kept, residual: line.residual }, "everything Stripe holds is kept by the hold, each record once").to.deep.equal({ kept: held, residual: 0 });
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(done.residualRecords.filter((r: any) => r.connector === "payments")).to.deep.equal([]);
  });
});
