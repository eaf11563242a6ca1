import { expect } from "chai";
import { ConnectorError, ErasureOutcome, TaskContext } from "../../src/connectors/sdk";
import type { StripeConnector } from "../../src/connectors/stripe";
import { personalFields } from "../../src/connectors/stripe/records";
import { MAX_JOBS, MAX_OBJECTS_PER_JOB } from "../../src/connectors/stripe/redactionJobs";
import { testContext } from "../../src/connectors/testing/conformance";
import type { StripeStandIn } from "../../src/sample/stripe";
import { ADA, ADA_PERSON, connectorFor, heldFor, repeatedEffects, startStandIn } from "./support/stripeStandIn";

const CUSTOMER = ADA_PERSON.paymentCustomerId!;
const WAVE = MAX_JOBS * MAX_OBJECTS_PER_JOB;

/**
 * An erasure whose old objects need more redaction jobs than it keeps at work at once (MAX_JOBS): the
 * rest wait in the task's remote reference and get jobs as earlier ones end, each once, however often a
 * poll is repeated; a legal hold that withdrew a job keeps the waiting objects too. Checked against the
 * stand-in's objects and the jobs it was given.
 */
describe("Stripe redaction jobs in waves", function () {
  this.timeout(120_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn, { redactionPollMs: 1 });
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  /** Every charge of Ada's is old (the period starts after them all), and `extra` more of them. */
  function seedOld(extra: number): Date {
    const charges = heldFor(standIn, "charge", CUSTOMER);
    const oldest = charges.sort((a, b) => Number(a.created) - Number(b.created))[0];
    for (let i = 0; i < extra; i++) standIn.store.put({ ...oldest, id: `${oldest.id}w${i}`, invoice: null }, "seeded");
    return new Date(Math.max(...["charge", "invoice", "payment_method", "subscription"].flatMap((k) => heldFor(standIn, k as "charge", CUSTOMER).map((o) => Number(o.created)))) * 1000 + 1000);
  }
  const unredacted = () => heldFor(standIn, "charge", CUSTOMER).filter((c) => personalFields("charge", c).length).length + heldFor(standIn, "invoice", CUSTOMER).filter((i) => personalFields("invoice", i).length).length;
  const jobCount = () => standIn.store.redactionJobs.size;

  it("gives waiting objects jobs as earlier ones end, each once, and counts every one redacted", async () => {
    const keepSince = seedOld(WAVE + 35);
    const toRedact = unredacted();
    expect(toRedact).to.be.greaterThan(WAVE);
    const ctx = testContext();
    const outcome = await connector.erase(ADA, { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: keepSince } }, ctx);
    expect(outcome.residual ?? [], "nothing left for a retry that will not come").to.deep.equal([]);
    expect(jobCount(), "one wave of jobs at work").to.equal(MAX_JOBS);
    expect(outcome.remote!.reference).to.include("|");
    expect(outcome.remote!.pending, "what is still under way, for people").to.equal(
      `Stripe is redacting ${WAVE} payment object(s) in ${MAX_JOBS} redaction job(s), which can take days; ${toRedact - WAVE} more wait for a job (at most ${MAX_JOBS} jobs at work at once), given one as earlier jobs end. None of them is counted erased until its job has succeeded.`,
    );
    expect(outcome.remote!.pending, "and names nothing of the subject").to.not.match(/ch_|in_|@/);

    // A poll repeated (the worker died before it parked the task) creates no job twice.
    let polled: ErasureOutcome = outcome;
    let redacted = 0;
    let polls = 0;
    while (polled.remote) {
      const reference = polled.remote.reference;
      await connector.poll(reference, testContext({ idempotencyKey: ctx.idempotencyKey }));
      polled = await connector.poll(reference, ctx);
      expect(jobCount(), "no job created twice").to.be.at.most(Math.ceil(toRedact / MAX_OBJECTS_PER_JOB));
      redacted += polled.redacted ?? 0;
      polls += 1;
      expect(polls).to.be.lessThan(50);
    }
    expect(unredacted(), "old charges and invoices still holding Ada's details at Stripe").to.equal(0);
    expect(redacted, "each redacted object counted once").to.equal(toRedact);
    expect(polled.residual ?? []).to.deep.equal([]);
    expect(jobCount()).to.equal(Math.ceil(toRedact / MAX_OBJECTS_PER_JOB));
    expect(repeatedEffects(standIn).filter((e) => e.startsWith("redaction_job.create"))).to.deep.equal([]);
  });

  it("gives the waiting objects no job once a legal hold withdrew one, leaving them to the hold", async () => {
    const keepSince = seedOld(WAVE + 35);
    const before = unredacted();
    const outcome = await connector.erase(ADA, { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: keepSince } }, testContext());
    const held: TaskContext = testContext({ eraseUnit: async () => false });
    let polled: ErasureOutcome = outcome;
    for (let i = 0; polled.remote && i < 20; i++) polled = await connector.poll(polled.remote.reference, held);
    expect(polled.remote, "nothing left to poll").to.equal(undefined);
    expect(jobCount(), "the waiting objects got no job").to.equal(MAX_JOBS);
    expect([...standIn.store.redactionJobs.values()].every((j) => ["canceling", "canceled"].includes(j.status)), "every job withdrawn").to.equal(true);
    expect(unredacted(), "Stripe still holds every object: the hold's").to.equal(before);
    expect(polled.erased).to.equal(0);
  });

  it("refuses a damaged reference, naming nothing of it and asking Stripe nothing", async () => {
    const calls = standIn.calls.total;
    for (const reference of ["prj_1|charges=ch_1;nonsense=ch_2", "prj_1|charges=ch_1.ch 2", "prj_<script>", "prj_1|charges=ch_1|x", "prj_1|"]) {
      let error: unknown;
      await connector.poll(reference, testContext()).catch((e: unknown) => (error = e));
      expect(error, reference).to.be.instanceOf(ConnectorError);
      const e = error as ConnectorError;
      expect(e.retryable, reference).to.equal(false);
      expect(`${e.userMessage} ${e.internalMessage}`, "echoes nothing").to.not.match(/ch_|prj_|script|nonsense/);
    }
    expect(standIn.calls.total, "no call to Stripe").to.equal(calls);
  });
});
