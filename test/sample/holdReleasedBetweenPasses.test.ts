import { expect } from "chai";
import pino from "pino";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category plannedFound plannedToErase plannedToKeep erased redacted kept residual matchesPlan differences { kind records } }
  residualRecords { connector recordType records }
  retentionExceptions { connector category recordType recordCount holdId status }
  tasks { connector step status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted residual } residual { connector recordType records } kept { connector recordType records status } } }`;

/**
 * A legal hold released while a deletion it kept records of is still under way (between an erasure's
 * first pass and its closing pass): the deletion's closing pass erases what the hold kept, and no purge
 * acts beside it. What the deletion finally reports (its outcome line, its retention exceptions, its
 * certificate) is what the stand-in systems hold.
 */
describeEachDatabase("a legal hold released between a deletion's passes", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("is settled by the closing pass alone: no purge while the deletion runs, and the report equals what Stripe holds", async function () {
    this.timeout(180_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
    // A short lease: the sweep that schedules purges runs every half lease.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000" }, ws.connectors).start();
    const payments = ws.connectors.find((c) => c.spec.name === "payments")!;
    const ada = ws.people.find((p) => p.email === ADA)!;
    const subject = { email: ADA, paymentCustomerId: ada.paymentCustomerId! };
    const hold = (await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-9" }) { id } }`)).placeLegalHold;
    // The ticketing erasure is held up at its first delete, so the account database (erased last, and
    // what arms the closing passes) waits while the hold is released.
    const deleting = ws.zendesk.faults.pause({ method: "DELETE", path: "/api/v2/tickets/" });
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const firstPass = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return now.tasks.some((x: any) => x.connector === "payments" && x.step === "ERASE" && x.status === "SUCCEEDED") ? now : undefined;
    }, "the payments erasure's first pass ended, keeping everything under the hold", 60_000);
    const keptByHold = sum(firstPass.retentionExceptions.filter((e: any) => e.connector === "payments" && e.holdId === hold.id), (e: any) => e.recordCount);
    expect(keptByHold, "the first pass kept Ada's payments under the hold").to.be.greaterThan(0);
    await deleting.reached;
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Dispute settled") { id } }`, { id: hold.id });
    // Several sweeps pass (each would schedule a purge of what the released hold kept) before the deletion goes on.
    const sweeps = Date.now() + 2_500;
    const purgesMeanwhile = new Set<string>();
    while (Date.now() < sweeps) {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      for (const x of now.tasks.filter((x: any) => x.step === "PURGE")) purgesMeanwhile.add(`${x.connector}:${x.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    deleting.release();
    const done = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      for (const x of now.tasks.filter((x: any) => x.step === "PURGE")) purgesMeanwhile.add(`${x.connector}:${x.status}`);
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 120_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // Stripe itself: what the payments connector still finds of Ada.
    const held = (await collectAll(payments, subject)).length;
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    const open = done.retentionExceptions.filter((e: any) => e.connector === "payments" && e.status === "OPEN");
    const certificate = (await t.ok(CERTIFICATE, { id: r.id })).deletionCertificate;
    const reading = {
      purges: [...purgesMeanwhile].sort(),
      held,
      line: { found: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual },
      openExceptions: sum(open, (e: any) => e.recordCount),
      openUnderReleasedHold: sum(open.filter((e: any) => e.holdId === hold.id), (e: any) => e.recordCount),
      certificateRetained: sum(certificate.kept.filter((e: any) => e.connector === "payments" && e.status === "OPEN"), (e: any) => e.records),
      certificateErased: certificate.erased.find((e: any) => e.connector === "payments")?.records,
    };
    console.log(`      ${db().kind} ${JSON.stringify(reading)}`);
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(reading.openUnderReleasedHold, "nothing stays kept by the released hold").to.equal(0);
    expect(line.kept, "kept: what Stripe still holds of Ada (the 7-year rule's)").to.equal(held);
    expect(reading.openExceptions, "the open retention exceptions: what Stripe holds").to.equal(held);
    expect(line.residual, "nothing residual").to.equal(0);
    expect(reading.certificateRetained, "the certificate's retained: what Stripe holds").to.equal(held);
    expect(reading.certificateErased, "the certificate's erased: the outcome's").to.equal(line.erased);
    expect(reading.purges, "no purge acts on a deletion still under way").to.deep.equal([]);
  });
});
