import { expect } from "chai";
import { ErasureOutcome, ResidualRecords, TaskContext } from "../../src/connectors/sdk";
import type { StripeConnector } from "../../src/connectors/stripe";
import { personalFields } from "../../src/connectors/stripe/records";
import { MAX_OBJECTS_PER_JOB } from "../../src/connectors/stripe/redactionJobs";
import { testContext } from "../../src/connectors/testing/conformance";
import { ManualClock } from "../../src/clock";
import { startStripeStandIn, StripeStandIn } from "../../src/sample/stripe";
import { ADA, ADA_PERSON, API_KEY, connectorFor, heldFor, PEOPLE, repeatedEffects } from "./support/stripeStandIn";

const CUSTOMER = ADA_PERSON.paymentCustomerId!;
const DAY = 86_400_000;

/**
 * Ada's old charges and invoices go to Stripe's redaction jobs (ten objects a job). Stripe runs no job
 * any of whose objects fails validation, and keeps an idempotency key 24 hours only. Checked against
 * what the stand-in holds at the end: which old objects still carry personal data, and which jobs it
 * was given.
 */
describe("Stripe redaction jobs, refused objects and expired keys", function () {
  this.timeout(60_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    standIn = await startStripeStandIn({ apiKey: API_KEY, people: PEOPLE, clock });
    connector = connectorFor(standIn, { redactionPollMs: 1 });
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  /** The instant after Ada's newest charge: every one of them (and invoice) is old; her customer is deleted. */
  const allOld = () => new Date(Math.max(...heldFor(standIn, "charge", CUSTOMER).map((c) => Number(c.created))) * 1000 + 1000);
  /** Ada's charges and invoices still carrying personal data at Stripe. */
  const unredacted = () => [...heldFor(standIn, "charge", CUSTOMER).filter((c) => personalFields("charge", c).length), ...heldFor(standIn, "invoice", CUSTOMER).filter((i) => personalFields("invoice", i).length)];

  /** Polls the erasure's jobs to their end; what they redacted and left. */
  async function polled(outcome: ErasureOutcome, ctx: TaskContext): Promise<{ redacted: number; residual: ResidualRecords[] }> {
    let redacted = 0;
    const residual = [...(outcome.residual ?? [])];
    for (let now = outcome, polls = 0; now.remote; polls++) {
      expect(polls, "polls").to.be.lessThan(20);
      now = await connector.poll(now.remote.reference, ctx);
      redacted += now.redacted ?? 0;
      residual.push(...(now.residual ?? []));
    }
    return { redacted, residual };
  }

  it("redacts the other objects of a job Stripe refused one object of, and reports that one (with the invoice it paid) residual, saying what to do", async () => {
    const before = unredacted().length;
    const oldest = heldFor(standIn, "charge", CUSTOMER).sort((a, b) => Number(a.created) - Number(b.created))[0];
    expect(oldest.invoice, "the refused charge paid an invoice").to.be.a("string");
    standIn.redaction.refuse.add(oldest.id);
    const ctx = testContext({ now: () => clock.now() });
    const outcome = await connector.erase(ADA, { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: allOld() } }, ctx);
    const { redacted, residual } = await polled(outcome, ctx);

    // Stripe itself: only the refused charge and the invoice it paid still hold Ada's data.
    expect(unredacted().map((o) => o.id).sort(), "left at Stripe").to.deep.equal([oldest.id, oldest.invoice].sort());
    expect(redacted, "each other object redacted, counted once").to.equal(before - 2);
    expect(residual.map((r) => `${r.type}:${r.count}`).sort()).to.deep.equal(["charge:1", "invoice:1"]);
    const reason = Object.fromEntries(residual.map((r) => [r.type, r.reason]));
    expect(reason.charge).to.match(/failed validation \(invalid_state\) for this object/).and.match(/settle it in the Stripe Dashboard/).and.match(/run the deletion again/);
    expect(reason.invoice).to.match(/failed validation \(invalid_state\) for the invoice or charge this one goes with/);
    for (const r of residual) expect(r.reason, "names nothing of Ada's").to.not.match(/ch_|in_|@|prj_/);
    const jobs = [...standIn.store.redactionJobs.values()];
    expect(jobs.filter((j) => j.status === "canceled"), "the refused job canceled, its objects free").to.have.length(1);
    expect(jobs.filter((j) => j.status === "succeeded").length).to.equal(jobs.length - 1);
    expect(standIn.calls.byRoute["POST /v1/privacy/redaction_jobs/:id/cancel"], "cancel asked once").to.equal(1);
    // (A redacted invoice redacts its charge too; the stand-in notes a cancel asked and one ended alike.)
    expect(repeatedEffects(standIn).filter((e) => !/\.redact |redaction_job\.canceled /.test(e)), "side effects repeated").to.deep.equal([]);
  });

  it("follows the jobs an attempt made more than 24 hours before, when the retry's keys are new to Stripe, and creates none twice", async () => {
    const before = unredacted().length;
    expect(before, "more objects than one job takes").to.be.greaterThan(MAX_OBJECTS_PER_JOB);
    const ctx = testContext({ now: () => clock.now() });
    const instruction = { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: allOld() } };
    // The first attempt creates the jobs, then the task fails before it keeps their ids (a fault after).
    const first = await connector.erase(ADA, instruction, ctx);
    const created = standIn.store.effectCount("redaction_job.create");
    expect(created).to.equal(Math.ceil(before / MAX_OBJECTS_PER_JOB));
    // An operator retries the task two days later: the same idempotency key, expired at Stripe.
    clock.advance(2 * DAY);
    const retry = testContext({ idempotencyKey: ctx.idempotencyKey, now: () => clock.now() });
    const again = await connector.erase(ADA, instruction, retry);
    expect(standIn.store.effectCount("redaction_job.create"), "jobs created").to.equal(created);
    expect(again.remote!.reference.split(",").sort()).to.deep.equal(first.remote!.reference.split(",").sort());
    const { redacted, residual } = await polled(again, retry);
    expect(unredacted(), "left at Stripe").to.deep.equal([]);
    expect(redacted, "each object counted once").to.equal(before);
    expect(residual).to.deep.equal([]);
    expect([...standIn.store.redactionJobs.values()].map((j) => j.status)).to.deep.equal(Array(created).fill("succeeded"));
    expect(repeatedEffects(standIn).filter((e) => !e.includes(".redact ")), "side effects repeated").to.deep.equal([]);
  });
});
