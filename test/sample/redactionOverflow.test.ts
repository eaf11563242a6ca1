import { expect } from "chai";
import { MAX_JOBS, MAX_OBJECTS_PER_JOB } from "../../src/connectors/stripe/redactionJobs";
import { describeEachDatabase } from "../support/databases";
import { sum } from "../support/harness";
import { manyOldCharges } from "./redactionWaves";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector plannedToErase plannedToLeaveResidual erased redacted kept residual matchesPlan differences { kind records reason } }
  residualRecords { connector recordType records reason }
  tasks { connector step status note } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted residual } residual { connector recordType records } } }`;
const DAY_MS = 86_400_000;

/**
 * A subject with more objects for Stripe's redaction jobs than one wave of jobs holds (MAX_JOBS jobs
 * of MAX_OBJECTS_PER_JOB): every one is redacted at Stripe, in waves as the jobs end, and the deletion
 * says so; nothing is left at Stripe that the request calls erased, nor left behind that a retry that
 * cannot happen was to redact. Checked against the Stripe stand-in's own objects, then a week later.
 */
describeEachDatabase("a deletion needing more redaction jobs than one wave holds", (db) => {
  const setup = manyOldCharges(db);

  it("redacts every old object at Stripe in waves, and reports it erased, not residual", async function () {
    this.timeout(400_000);
    // Forty objects more than two waves of jobs take (the erasure's first pass and its closing pass).
    const extra = 2 * MAX_JOBS * MAX_OBJECTS_PER_JOB + 40;
    const { ws, t, oldHolding, approvedDeletion } = await setup.start(extra);
    const store = ws.stripe.store;
    expect(oldHolding()).to.be.greaterThan(extra);
    const r = { id: await approvedDeletion() };
    const reading = () => t.ok(SHOW, { id: r.id }).then((x) => x.request);
    // What the request says while Stripe works: each note the payments erasure showed.
    const notes = new Set<string>();
    const done = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = await reading();
      const erase = now.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE");
      if (erase?.status === "REMOTE_PROCESSING" && erase.note) notes.add(erase.note);
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 360_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const jobs = [...store.redactionJobs.values()];
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    const seen = { leftAtStripe: oldHolding(), jobs: jobs.length, succeeded: jobs.filter((j) => j.status === "succeeded").length, line, residualRecords: done.residualRecords };
    console.log(`      ${db().kind} ${JSON.stringify(seen)}`);
    expect(seen.leftAtStripe, "old charges and invoices still holding the subject's details at Stripe").to.equal(0);
    expect(seen.succeeded, "every job Stripe was given ran").to.equal(jobs.length);
    expect(jobs.length, "more jobs than one wave").to.be.greaterThan(MAX_JOBS);
    expect({ residual: line.residual, matchesPlan: line.matchesPlan, erased: line.erased }).to.deep.equal({ residual: 0, matchesPlan: true, erased: line.plannedToErase });
    const byJobs = sum(jobs, (j) => Object.values(j.objects).reduce((n, ids) => n + ids.length, 0));
    expect(line.redacted, "what Stripe's jobs redacted").to.equal(byJobs);
    // While it waited, the request said what Stripe was still doing, with the objects waiting for a job;
    // once done, it says nothing more is under way, and the audit trail keeps each statement.
    const waitingNote = [...notes].find((n) => /; \d+ more wait for a job/.test(n));
    expect(waitingNote, [...notes].join(" / ")).to.match(/^Stripe is redacting 600 payment object\(s\) in 60 redaction job\(s\), which can take days; \d+ more wait for a job/);
    expect(done.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE").note).to.equal(null);
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: r.id })).auditEvents;
    const parked = events.filter((e: any) => e.action === "task.remote_processing" && e.details.connector === "payments");
    expect(parked.length, "each wait is an audit event").to.be.greaterThan(1);
    expect(parked.map((e: any) => e.details.pending)).to.include(waitingNote);
    const certificate = (await t.ok(CERTIFICATE, { id: r.id })).deletionCertificate;
    expect(sum(certificate.residual.filter((x: any) => x.connector === "payments"), (x: any) => x.records), "the certificate names no residue").to.equal(0);

    // A week on, the report and Stripe still agree.
    t.clock.advance(7 * DAY_MS);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const later = await reading();
    expect(later.status).to.equal("COMPLETED");
    expect(later.deletionOutcome.find((o: any) => o.connector === "payments")).to.deep.equal(line);
    expect(oldHolding()).to.equal(0);
  });
});
