import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { sampleSetup } from "../identity/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector erased kept residual matchesPlan }
  tasks { connector step status lastError } } }`;

/**
 * A deletion's payments erasure fails part way (Stripe answers 500 to every try of its first redaction
 * job), after it blanked Ada's charges; before the orchestrator retries it, the platform tags one of
 * them again (a webhook handler writing its order reference into the metadata, as it does on every
 * charge event). The retry must blank the charge again, not meet Stripe's refusal of a key it used
 * with other parameters. Checked against the Stripe stand-in's own data.
 */
describeEachDatabase("a Stripe object changed between two attempts of an erasure", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("is blanked again by the retry, and the deletion completes", async () => {
    const ada = setup.ws.people[0];
    const stripe = setup.ws.stripe;
    const newest = stripe.store.all("charge").filter((c) => c.customer === ada.paymentCustomerId)[0];
    expect(newest.metadata).to.not.deep.equal({});
    stripe.faults.set({ rate: 0, match: /^POST \/v1\/privacy\/redaction_jobs$/ });
    stripe.faults.next.push("500", "500", "500");
    const r = await submit(setup.t, { type: "DELETION", subject: { email: ada.email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    // The first attempt has blanked her charges and failed on the redaction job.
    await setup.t.waitFor(async () => (stripe.calls.count("500") === 3 && stripe.store.get("charge", newest.id)!.receipt_email === null ? true : undefined), "the first attempt failed", 60_000);
    stripe.faults.clear();
    stripe.store.put({ ...stripe.store.get("charge", newest.id)!, metadata: { order_ref: "ORD-webhook" } }, "test.webhook");

    const done = await setup.t.waitFor(
      async () => {
        setup.t.clock.advance(1000);
        const { request } = await setup.t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request finished",
      60_000,
    );
    const erase = done.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE");
    // Before: the retry sent the charge's update with the key of the first one and fewer fields; Stripe
    // refused it (idempotency_error) and the task failed for good: FAILED, the webhook's tag left.
    expect(done.status, `${done.statusReason} ${erase.lastError}`).to.equal("COMPLETED");
    expect(stripe.store.get("charge", newest.id)!.metadata, "the charge's metadata at Stripe").to.deep.equal({});
    expect(done.deletionOutcome.find((l: any) => l.connector === "payments")).to.deep.include({ residual: 0, matchesPlan: true });
  });
});
