import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { downloadRoster, drawRoster, identitiesOf } from "../roster/support";
import { misplacedId, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason notSearched { connector recordType reason }
  tasks { connector step status lastError outcome { records erased } } } }`;

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

  it("still reads none of Grace's payment records for Ada once Grace's deletion kept her customer for the books", async () => {
    const [ada, grace] = setup.ws.people;
    const adaHolds = (await setup.heldBy({ email: ada.email, userId: ada.userId, paymentCustomerId: ada.paymentCustomerId })).payments;
    const store = setup.ws.stripe.store;
    store.get("customer", grace.paymentCustomerId!)!.email = ada.email;

    // Grace's payments are all inside the 7-year rule: her customer stays at Stripe, blanked, with them.
    const graceDeletion = await runVerified(setup.t, SHOW, "DELETION", grace.email);
    expect(graceDeletion.status, graceDeletion.statusReason).to.equal("COMPLETED");
    const kept = store.get("customer", grace.paymentCustomerId!)!;
    expect(kept.deleted, "Grace's customer is kept").not.to.equal(true);
    expect(kept.email).to.equal(ada.email);
    // Before: the erasure blanked the whole metadata, the account's tag with it, and the kept customer
    // became a guest checkout under Ada's address: Ada's access then exported it (139 records, not 123).
    expect(kept.metadata, "the kept customer still says whose account it is").to.deep.equal({ user_id: grace.userId });

    const access = await runVerified(setup.t, SHOW, "ACCESS", ada.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT");
    expect(collect.outcome.records, "payment records exported for Ada").to.equal(adaHolds);
    expect(access.notSearched.filter((n: any) => n.connector === "payments" && n.recordType === "customer")).to.have.length(1);
  });

  it("fails Ada's access and deletion, reading and erasing none of Grace's payment records, when Ada's account row holds the id of Grace's tagged customer", async () => {
    const [ada, grace] = setup.ws.people;
    // A data error in the account database: Ada's row points at Grace's customer, Grace's row at none.
    await misplacedId(setup.dir, "payment_customer_id", grace, ada, grace.paymentCustomerId!);
    const store = setup.ws.stripe.store;
    expect(store.get("customer", grace.paymentCustomerId!)!.metadata).to.deep.include({ user_id: grace.userId });
    const graceAtStripe = () => JSON.stringify({ customer: store.get("customer", grace.paymentCustomerId!), charges: store.all("charge").filter((c) => c.customer === grace.paymentCustomerId) });
    const before = graceAtStripe();
    expect(JSON.parse(before).charges).not.to.deep.equal([]);

    for (const type of ["ACCESS", "DELETION"]) {
      const done = await runVerified(setup.t, SHOW, type, ada.email);
      expect(done.status, type).to.equal("FAILED");
      const payments = done.tasks.filter((x: any) => x.connector === "payments");
      expect(payments.filter((x: any) => x.status === "SUCCEEDED"), `${type}: no payments task read or erased Grace's customer`).to.deep.equal([]);
      const failed = payments.find((x: any) => x.status === "FAILED");
      expect(failed.lastError).to.match(/^payments: the payment customer the account database holds for the subject is tagged at Stripe as another account's/);
      expect(failed.lastError).not.to.include(grace.paymentCustomerId).and.not.to.include(grace.userId);
    }
    expect(graceAtStripe(), "Grace's customer and charges at Stripe").to.equal(before);
  });

  it("lists Ada and Grace as two people in a breach roster of the payment system, each with their own customer", async () => {
    const [ada, grace] = setup.ws.people;
    const store = setup.ws.stripe.store;
    store.get("customer", grace.paymentCustomerId!)!.email = ada.email.toUpperCase();

    const roster = await drawRoster(setup.t, ["payments"]);
    expect([roster.status, roster.complete], roster.lastError).to.deep.equal(["COMPLETED", true]);
    const { lines } = await downloadRoster(setup.t, roster.id);
    const lineOf = (email: string) => lines.filter((l) => identitiesOf(l).get("email")?.includes(email));
    // Before: one line "ada; grace" (the tagged customer's typed address joined Grace's account to Ada's).
    expect(lineOf(ada.email), "Ada's lines").to.have.length(1);
    expect(lineOf(grace.email), "Grace's lines").to.have.length(1);
    expect(identitiesOf(lineOf(ada.email)[0]).get("email")).to.deep.equal([ada.email]);
    expect(identitiesOf(lineOf(ada.email)[0]).get("paymentCustomerId")).to.deep.equal([ada.paymentCustomerId]);
    expect(identitiesOf(lineOf(grace.email)[0]).get("email")).to.deep.equal([grace.email]);
    expect(identitiesOf(lineOf(grace.email)[0]).get("paymentCustomerId")).to.deep.equal([grace.paymentCustomerId]);
    // Everyone the payment system holds, each once: as many lines as people, and no customer on two.
    const customers = lines.flatMap((l) => identitiesOf(l).get("paymentCustomerId") ?? []);
    expect(new Set(customers).size).to.equal(customers.length);
    expect(roster.people).to.equal(lines.length);
  });
});
