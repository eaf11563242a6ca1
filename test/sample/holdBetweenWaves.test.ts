import { expect } from "chai";
import pino from "pino";
import { personalFields } from "../../src/connectors/stripe/records";
import { MAX_JOBS, MAX_OBJECTS_PER_JOB } from "../../src/connectors/stripe/redactionJobs";
import { shiftByPeriod } from "../../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TEST_START, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector erased redacted kept residual }
  retentionExceptions { connector recordCount holdId status }
  tasks { connector step status } } }`;

/**
 * A legal hold placed between two waves of a payments erasure's redaction jobs: the first wave has
 * ended (Stripe redacted it), the second is only being validated. Nothing is past calling back, so the
 * hold is placed at once, and it withdraws the second wave: those objects stay at Stripe, the hold's,
 * and the request says so. Checked against the stand-in's objects and jobs.
 */
describeEachDatabase("a legal hold between waves of redaction jobs", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("is placed at once, and keeps the objects the later waves had not redacted", async function () {
    this.timeout(300_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_HOLD_WAIT_MS: "1000" }, ws.connectors).start();
    const store = ws.stripe.store;
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    const cutoff = shiftByPeriod(TEST_START, { years: 7, days: 0 }, -1).getTime() / 1000;
    const oldest = store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    for (let i = 0; i < MAX_JOBS * MAX_OBJECTS_PER_JOB + 25; i++) store.put({ ...oldest, id: `${oldest.id}h${i}`, invoice: null }, "seeded");
    const oldHolding = () => (["charge", "invoice"] as const).reduce((n, kind) => n + store.all(kind).filter((o) => o.customer === customer && (o.created as number) < cutoff && personalFields(kind, o).length > 0).length, 0);
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const jobs = () => [...store.redactionJobs.values()];
    // Time passes until the first wave has ended and the second has been created; then Stripe takes its time.
    await t.waitFor(async () => {
      t.clock.advance(2);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return jobs().length > MAX_JOBS ? true : undefined;
    }, "the second wave of jobs", 240_000);
    ws.stripe.redaction.paused = true;
    const firstWave = jobs().slice(0, MAX_JOBS);
    expect(firstWave.every((j) => j.status === "succeeded"), "the first wave ended").to.equal(true);
    expect(jobs().slice(MAX_JOBS).every((j) => j.status === "validating"), "the second is being validated").to.equal(true);
    const left = oldHolding();
    expect(left).to.be.greaterThan(0);

    // Before: the first wave's fence lasted through every later wave, and the hold was refused
    // ("...the remote system is erasing them and cannot be called back...") until the last one ended.
    const placed = await t.gql(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-12" }) { id } }`);
    expect(placed.errors, JSON.stringify(placed.errors)).to.equal(undefined);
    ws.stripe.redaction.paused = false;
    const done = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 120_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const later = jobs().slice(MAX_JOBS);
    expect(later.every((j) => ["canceling", "canceled"].includes(j.status)), "the later wave withdrawn, none run").to.equal(true);
    expect(oldHolding(), "what the later wave was to redact is still at Stripe").to.equal(left);
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    const byFirstWave = sum(firstWave, (j) => Object.values(j.objects).reduce((n, ids) => n + ids.length, 0));
    expect({ redacted: line.redacted, residual: line.residual }).to.deep.equal({ redacted: byFirstWave, residual: 0 });
    const heldOpen = sum(done.retentionExceptions.filter((e: any) => e.connector === "payments" && e.holdId && e.status === "OPEN"), (e: any) => e.recordCount);
    expect(heldOpen, "the hold keeps them, counted").to.be.at.least(left);
  });
});
