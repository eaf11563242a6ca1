import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason notSearched { connector recordType reason }
  tasks { connector step status outcome { records erased } } } }`;

/**
 * Stripe finds customers by email, and a customer's email is whatever was typed into it: here Grace's
 * account's customer (tagged with her user id, as the platform tags every account's customer) carries
 * Ada's address in capitals. The payment connector took every customer with the address as Ada's, so
 * Ada's access exported Grace's customer, cards and charges, and Ada's deletion blanked Grace's
 * customer. Checked against the Stripe stand-in's own data.
 */
describeEachDatabase("a payment customer of another account that carries the subject's address", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("reads and erases none of Grace's payment records for Ada, and says a customer was passed over", async () => {
    const [ada, grace] = setup.ws.people;
    const ids = { email: ada.email, userId: ada.userId, paymentCustomerId: ada.paymentCustomerId };
    const adaHolds = (await setup.heldBy(ids)).payments;
    const store = setup.ws.stripe.store;
    const customer = store.get("customer", grace.paymentCustomerId!)!;
    expect(customer.metadata).to.deep.include({ user_id: grace.userId });
    customer.email = ada.email.toUpperCase();
    const graceAtStripe = () => JSON.stringify({ customer: store.get("customer", grace.paymentCustomerId!), charges: store.all("charge").filter((c) => c.customer === grace.paymentCustomerId) });
    const before = graceAtStripe();

    const access = await runVerified(setup.t, SHOW, "ACCESS", ada.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT");
    expect(collect.outcome.records, "payment records exported for Ada").to.equal(adaHolds);
    expect(access.notSearched.filter((n: any) => n.connector === "payments" && n.recordType === "customer").map((n: any) => n.reason)).to.satisfy((r: string[]) => r.some((x) => x.includes("tagged as another account's")));
    expect(JSON.stringify(access.notSearched)).not.to.include(grace.paymentCustomerId).and.not.to.include(grace.userId);

    const deletion = await runVerified(setup.t, SHOW, "DELETION", ada.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(graceAtStripe(), "Grace's customer and charges at Stripe").to.equal(before);
  });
});
