import { expect } from "chai";
import pino from "pino";
import { shiftByPeriod } from "../../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TEST_START, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category plannedFound erased redacted kept residual matchesPlan }
  residualRecords { connector recordType records }
  retentionExceptions { connector category recordType recordCount holdId status }
  tasks { connector step status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted residual } residual { connector recordType records } kept { connector records status } } }`;

/**
 * A legal hold placed within one erasure attempt after Stripe refused one of its redaction jobs (the
 * refused job's objects already named residual, the other job not yet run): every record Stripe still
 * holds is counted once, kept by the hold, not also residual.
 */
describeEachDatabase("a legal hold placed after a refused redaction, within one erasure attempt", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("counts what the refused job left once: kept by the hold, not also residual", async function () {
    this.timeout(180_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
    const ada = ws.people.find((p) => p.email === ADA)!;
    const customer = ada.paymentCustomerId!;
    const cutoff = shiftByPeriod(TEST_START, { years: 7, days: 0 }, -1).getTime() / 1000;
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    expect(oldest.created as number).to.be.lessThan(cutoff);
    // Enough old charges for two redaction jobs (ten objects each).
    for (let i = 0; i < 10; i++) ws.stripe.store.put({ ...oldest, id: `${oldest.id}x${i}`, invoice: null }, "seeded");
    // Stripe takes its time: the jobs stay validating until the test moves them.
    ws.stripe.redaction.paused = true;
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const reading = () => t.ok(SHOW, { id: r.id }).then((x) => x.request);
    await t.waitFor(async () => {
      t.clock.advance(2);
      const now = await reading();
      return now.tasks.some((x: any) => x.connector === "payments" && x.step === "ERASE" && x.status === "REMOTE_PROCESSING") ? true : undefined;
    }, "the payments erasure waits for its redaction jobs", 60_000);
    const jobs = [...ws.stripe.store.redactionJobs.values()];
    expect(jobs.length, "two redaction jobs").to.be.at.least(2);
    // Stripe refuses the first job: the next poll cancels it and names its objects residual.
    const [refused] = jobs;
    ws.stripe.store.putJob(
      { ...refused, status: "failed", validationErrors: [{ id: "prjve_1", object: "privacy.redaction_job_validation_error", code: "invalid_state", message: "not redactable", erroring_object: null }] },
      "redaction_job.failed",
    );
    await t.waitFor(async () => {
      t.clock.advance(2);
      await reading();
      return ws.stripe.store.redactionJobs.get(refused.id)!.status === "canceling" ? true : undefined;
    }, "a poll saw the refusal and canceled the job", 60_000);
    ws.stripe.store.putJob({ ...ws.stripe.store.redactionJobs.get(refused.id)!, status: "canceled" }, "redaction_job.canceled");
    // Within the same attempt (the other job has not run), a hold comes.
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-11" }) { id } }`);
    ws.stripe.redaction.paused = false;
    const done = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = await reading();
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 120_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    const held = (await collectAll(ws.connectors.find((c) => c.spec.name === "payments")!, { email: ADA, paymentCustomerId: customer })).length;
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    const certificate = (await t.ok(CERTIFICATE, { id: r.id })).deletionCertificate;
    const seen = {
      held,
      line: { found: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual },
      openExceptions: sum(done.retentionExceptions.filter((e: any) => e.connector === "payments" && e.status === "OPEN"), (e: any) => e.recordCount),
      residualRecords: sum(done.residualRecords.filter((x: any) => x.connector === "payments"), (x: any) => x.records),
      certificateResidual: sum(certificate.residual.filter((x: any) => x.connector === "payments"), (x: any) => x.records),
      jobs: [...ws.stripe.store.redactionJobs.values()].map((j) => j.status),
    };
    console.log(`      ${db().kind} ${JSON.stringify(seen)}`);
    expect({ kept: line.kept, residual: line.residual }, "everything Stripe holds is kept by the hold, each record once").to.deep.equal({ kept: held, residual: 0 });
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(seen.openExceptions, "the open retention exceptions: what Stripe holds").to.equal(held);
    expect(seen.residualRecords, "nothing named residual").to.equal(0);
    expect(seen.certificateResidual, "nor on the certificate").to.equal(0);
  });
});
