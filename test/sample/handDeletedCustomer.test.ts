import { expect } from "chai";
import { personalFields, StripeKind } from "../../src/connectors/stripe/records";
import { shiftByPeriod } from "../../src/domain/retention";
import { describeEachDatabase } from "../support/databases";
import { TEST_START } from "../support/harness";
import { runVerified, sampleSetup } from "../identity/support";
import { downloadRoster, drawRoster, identitiesOf } from "../roster/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector plannedFound plannedToErase plannedToKeep erased kept residual matchesPlan }
  retentionExceptions { connector recordCount }
  tasks { connector step status outcome { records } } } }`;

/**
 * An agent deleted Ada's customer in the Stripe Dashboard. Stripe deletes the customer only: her
 * charges and invoices stay, under the customer's id, with her name, email and address, and the
 * account database still gives that id. Checked against the Stripe stand-in's own data.
 */
describeEachDatabase("a payment customer deleted by hand, whose charges and invoices stay at Stripe", (db) => {
  const setup = sampleSetup(db, SHOW);

  /** Deletes the customer as Stripe's Dashboard does: its cards detached, its subscriptions canceled, its payments left. */
  function deleteByHand(customer: string): void {
    const store = setup.ws.stripe.store;
    for (const pm of store.all("payment_method").filter((o) => o.customer === customer)) store.put({ ...pm, customer: null }, "payment_method.detach");
    for (const sub of store.all("subscription").filter((o) => o.customer === customer)) store.put({ ...sub, status: "canceled" }, "subscription.cancel");
    store.put({ id: customer, object: "customer", deleted: true }, "customer.delete");
  }

  /** Her charges and invoices that still hold personal data, read from the stand-in: those inside the 7-year rule, and the older ones. */
  function withPersonalData(customer: string): { recent: number; old: number } {
    const cutoff = shiftByPeriod(TEST_START, { years: 7, days: 0 }, -1).getTime() / 1000;
    const objects = (["charge", "invoice"] as StripeKind[]).flatMap((kind) => setup.ws.stripe.store.all(kind).filter((o) => o.customer === customer && personalFields(kind, o).length > 0));
    return { recent: objects.filter((o) => (o.created as number) >= cutoff).length, old: objects.filter((o) => (o.created as number) < cutoff).length };
  }

  it("exports her charges and invoices for an access request, and a deletion keeps those inside the 7-year rule and redacts the older ones", async () => {
    const ada = setup.ws.people[0];
    const customer = ada.paymentCustomerId!;
    deleteByHand(customer);
    const held = withPersonalData(customer);
    expect(held, "Ada's charges and invoices at Stripe").to.deep.equal({ recent: 114, old: 6 });

    // Before: the customer was found deleted and nothing under it was read (0 records, COMPLETED).
    const access = await runVerified(setup.t, SHOW, "ACCESS", ada.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT");
    expect(collect.outcome.records, "payment records exported").to.equal(held.recent + held.old);

    // Before: the plan found none, and the erasure redacted all 120, the 114 the tax rule keeps with them.
    const deletion = await runVerified(setup.t, SHOW, "DELETION", ada.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(withPersonalData(customer), "what Stripe still holds").to.deep.equal({ recent: held.recent, old: 0 });
    const line = deletion.deletionOutcome.find((l: any) => l.connector === "payments");
    expect(line).to.deep.include({ plannedFound: 120, plannedToKeep: held.recent, plannedToErase: held.old, kept: held.recent, erased: held.old, residual: 0, matchesPlan: true });
    const kept = deletion.retentionExceptions.filter((e: any) => e.connector === "payments").reduce((n: number, e: any) => n + e.recordCount, 0);
    expect(kept, "records the retention exceptions keep").to.equal(held.recent);
  });

  it("lists her in a breach roster of the payment system, by the customer id that finds her charges and invoices", async () => {
    const [ada, grace] = setup.ws.people;
    deleteByHand(ada.paymentCustomerId!);
    expect(withPersonalData(ada.paymentCustomerId!).recent).to.be.greaterThan(0);
    const roster = await drawRoster(setup.t, ["payments"]);
    expect([roster.status, roster.complete], roster.lastError).to.deep.equal(["COMPLETED", true]);
    const { lines } = await downloadRoster(setup.t, roster.id);
    const hers = lines.filter((l) => identitiesOf(l).get("email")?.includes(ada.email));
    // Before: the roster read live customers and guests only, and left her out (0 lines).
    expect(hers, "Ada's lines").to.have.length(1);
    expect(identitiesOf(hers[0]).get("paymentCustomerId")).to.deep.equal([ada.paymentCustomerId]);
    // Nobody twice: Grace, a live customer, is still one line.
    expect(lines.filter((l) => identitiesOf(l).get("email")?.includes(grace.email))).to.have.length(1);
    expect(roster.people).to.equal(lines.length);
  });

  it("reaches the charges of a guest checkout's customer deleted by hand, by the billing email they carry", async () => {
    const grace = setup.ws.people[1];
    const store = setup.ws.stripe.store;
    const held = (await setup.heldBy({ email: grace.email, userId: grace.userId, paymentCustomerId: grace.paymentCustomerId })).payments;
    // A guest checkout made a customer of its own (no account knows its id); an agent deleted it since.
    const old = Date.UTC(2012, 2, 1) / 1000;
    const recent = Math.floor(setup.t.clock.now().getTime() / 1000) - 365 * 86_400;
    for (const [id, created] of [["ch_gone_old", old], ["ch_gone_recent", recent]] as const) {
      store.put({ id, object: "charge", created, customer: "cus_gone", amount: 2500, currency: "gbp", status: "succeeded", description: "Guest checkout", receipt_email: grace.email, metadata: {}, billing_details: { name: grace.name, email: grace.email, phone: null, address: null }, invoice: null, livemode: false }, "test.seed");
    }
    store.put({ id: "cus_gone", object: "customer", deleted: true }, "customer.delete");

    // Before: a charge with a customer was read only under that customer, and nobody finds a deleted
    // one by email: Grace's access left both out, and her deletion left both as they were.
    const access = await runVerified(setup.t, SHOW, "ACCESS", grace.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT").outcome.records).to.equal(held + 2);
    const deletion = await runVerified(setup.t, SHOW, "DELETION", grace.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect((store.get("charge", "ch_gone_old")!.billing_details as Record<string, unknown>).email, "the old charge at Stripe").to.equal("[redacted]");
    expect(store.get("charge", "ch_gone_recent")!, "the recent one, kept for the books").to.deep.include({ receipt_email: null });
    expect(deletion.deletionOutcome.find((l: any) => l.connector === "payments")).to.deep.include({ residual: 0, matchesPlan: true });
  });
});
