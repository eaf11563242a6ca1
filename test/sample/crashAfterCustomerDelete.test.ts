import { expect } from "chai";
import pino from "pino";
import { personalFields } from "../../src/connectors/stripe/records";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, TestService } from "../support/harness";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector plannedFound plannedToErase plannedToKeep plannedToLeaveResidual erased redacted kept residual matchesPlan differences { kind records reason } }
  tasks { connector step status attempts lastError outcome { erased kept residual } } } }`;

/**
 * A guest checkout years ago made Grace a customer of its own (no account knows its id; found by her
 * address), whose cards paid without a billing email (the address is on the customer). Her deletion
 * hands its old charges to a Stripe redaction job, then deletes the customer, and the service dies
 * right then: the delete was done at Stripe, its answer never stored. The attempt that takes the task
 * over must finish that job and count the customer erased; it dies too, and the one after it must not
 * count the customer again. Checked against the stand-in's own
 * store: its redaction jobs and the charges.
 */
describeEachDatabase("a Stripe erasure whose process died between a customer's delete and its outcome", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("resumes: the first attempt's redaction job runs and succeeds, the charges are redacted, and the customer counts as erased once, across two crashes", async () => {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 1, people: 12, redactionPollMs: 1, callTimeoutMs: 1500 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "3000" }, ws.connectors).start();
    const grace = ws.people[1];
    const store = ws.stripe.store;
    const old = Date.UTC(2012, 2, 1) / 1000;
    store.put({ id: "cus_guest12", object: "customer", created: old, email: grace.email, name: grace.name, phone: null, description: "guest checkout", metadata: {}, livemode: false }, "test.seed");
    for (const n of [1, 2]) {
      store.put(
        { id: `ch_guest12_${n}`, object: "charge", created: old + n * 86_400, customer: "cus_guest12", amount: 1200, currency: "gbp", status: "succeeded", description: "Guest checkout", receipt_email: null, metadata: {}, billing_details: { name: grace.name, email: null, phone: null, address: { line1: "1 Guest Row", city: "London", postal_code: "N1 9GU", country: "GB" } }, invoice: null, livemode: false },
        "test.seed",
      );
    }
    // The delete is carried out at Stripe and its answer held back: the process dies while it waits.
    ws.stripe.faults.match = /^DELETE \/v1\/customers\/:id$/;
    ws.stripe.faults.next.push("hang");

    const r = await submit(t, { type: "DELETION", subject: { email: grace.email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (store.get("customer", "cus_guest12")?.deleted ? true : undefined), "the guest customer deleted at Stripe", 60_000);
    const jobsBefore = [...store.redactionJobs.values()].filter((j) => j.objects.charges.includes("ch_guest12_1"));
    expect(jobsBefore, "the job given the guest customer's charges before the delete").to.have.length(1);
    await t.crash();
    // The attempt that takes over dies too, once it has finished the delete and moved on to the next
    // customer (Grace's own, whose cards it lists): the one after it must not count the delete again.
    ws.stripe.faults.clear();
    ws.stripe.faults.match = /^GET \/v1\/customers\/:id\/payment_methods$/;
    ws.stripe.faults.next.push("hang", "hang", "hang");
    const hungBefore = ws.stripe.calls.count("hang");
    await t.waitFor(
      async () => {
        t.clock.advance(1000);
        return ws.stripe.calls.count("hang") > hungBefore ? true : undefined;
      },
      "the second attempt at Grace's own customer",
      60_000,
    );
    await t.crash();
    ws.stripe.faults.clear();

    const request = await t.waitFor(
      async () => {
        t.clock.advance(1000);
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request finished",
      60_000,
    );
    // At Stripe: the job the dead attempt created ran and succeeded; no job was left waiting for a run.
    const job = store.redactionJobs.get(jobsBefore[0].id)!;
    expect(job.status, "the dead attempt's redaction job at Stripe").to.equal("succeeded");
    expect([...store.redactionJobs.values()].filter((j) => !["succeeded", "canceled"].includes(j.status)).map((j) => j.status), "jobs not ended at Stripe").to.deep.equal([]);
    for (const n of [1, 2]) expect(personalFields("charge", store.get("charge", `ch_guest12_${n}`)!), `ch_guest12_${n} at Stripe`).to.deep.equal([]);
    expect(store.effectCount("customer.delete", "cus_guest12"), "deletes of the customer").to.equal(1);
    expect(request.status, `${request.statusReason} ${JSON.stringify(request.deletionOutcome)}`).to.equal("COMPLETED");
    const line = request.deletionOutcome.find((l: any) => l.connector === "payments");
    expect(line.erased, JSON.stringify(line)).to.equal(line.plannedToErase);
    expect(line.matchesPlan, JSON.stringify(line)).to.equal(true);
  });
});
