import { expect } from "chai";
import { MAX_JOBS, MAX_OBJECTS_PER_JOB } from "../../src/connectors/stripe/redactionJobs";
import { describeEachDatabase } from "../support/databases";
import { ended, sum } from "../support/harness";
import { ADA, manyOldCharges } from "./redactionWaves";

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
  const setup = manyOldCharges(db, { DSR_HOLD_WAIT_MS: "1000" });

  it("is placed at once, and keeps the objects the later waves had not redacted", async function () {
    this.timeout(300_000);
    const { ws, t, oldHolding, approvedDeletion } = await setup.start(MAX_JOBS * MAX_OBJECTS_PER_JOB + 25);
    const store = ws.stripe.store;
    const r = { id: await approvedDeletion() };
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
    const done = await ended(t, SHOW, r.id, { what: "deletion finished" });
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
