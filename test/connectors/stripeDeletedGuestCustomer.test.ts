import { expect } from "chai";
import { ErasureOutcome, SubjectRecord } from "../../src/connectors/sdk";
import { StripeConnector } from "../../src/connectors/stripe";
import { personalFields } from "../../src/connectors/stripe/records";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { SAMPLE_EPOCH } from "../../src/sample/people";
import { StripeStandIn } from "../../src/sample/stripe";
import { connectorFor, GRACE, GRACE_PERSON, startStandIn } from "./support/stripeStandIn";

const YEAR = 365 * 86_400_000;
const SEVEN_YEARS_BEFORE = new Date(Date.UTC(SAMPLE_EPOCH.getUTCFullYear() - 7, SAMPLE_EPOCH.getUTCMonth(), SAMPLE_EPOCH.getUTCDate()));

/**
 * A guest checkout made a customer of its own (no account knows its id) and an invoice with the payment
 * (Checkout's post-payment invoice: the buyer's name, email and address on it); an agent deleted the
 * customer in the Dashboard since. Stripe keeps the charge and the invoice under the deleted customer's
 * id. The charge is found by the billing email it carries, and with it the deleted customer's id; the
 * invoice, which names the buyer as much, must be found too. Asked of the stand-in's own store.
 */
describe("Stripe invoices of a guest checkout's customer deleted by hand", function () {
  this.timeout(60_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  const address = { line1: "1 Guest Row", city: "London", postal_code: "N1 9GU", country: "GB" };

  function checkout(suffix: string, at: Date, email: string): void {
    const created = Math.floor(at.getTime() / 1000);
    standIn.store.put(
      { id: `ch_gone_${suffix}`, object: "charge", created, customer: "cus_gone", amount: 2500, currency: "gbp", status: "succeeded", description: "Guest checkout", receipt_email: email, metadata: {}, billing_details: { name: GRACE_PERSON.name, email, phone: null, address }, invoice: `in_gone_${suffix}`, livemode: false },
      "test.seed",
    );
    standIn.store.put(
      { id: `in_gone_${suffix}`, object: "invoice", created, customer: "cus_gone", number: `GONE-${suffix}`, status: "paid", currency: "gbp", total: 2500, amount_paid: 2500, customer_name: GRACE_PERSON.name, customer_email: email, customer_phone: null, customer_address: address, description: "Guest checkout", footer: null, charge: `ch_gone_${suffix}`, metadata: { order: suffix }, livemode: false },
      "test.seed",
    );
  }

  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn);
    checkout("recent", new Date(SAMPLE_EPOCH.getTime() - YEAR), GRACE_PERSON.email);
    checkout("old", new Date(SEVEN_YEARS_BEFORE.getTime() - YEAR), GRACE_PERSON.email.toUpperCase());
    // An invoice of the same deleted customer made out to someone else: not hers.
    standIn.store.put(
      { id: "in_gone_other", object: "invoice", created: Math.floor((SEVEN_YEARS_BEFORE.getTime() - 2 * YEAR) / 1000), customer: "cus_gone", number: "GONE-other", status: "paid", currency: "gbp", total: 900, amount_paid: 900, customer_name: "Someone Else", customer_email: "someone.else@example.com", customer_phone: null, customer_address: address, description: null, footer: null, charge: null, metadata: { order: "other" }, livemode: false },
      "test.seed",
    );
    standIn.store.put({ id: "cus_gone", object: "customer", deleted: true }, "customer.delete");
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  const idsOf = (records: SubjectRecord[]) => records.map((r) => r.id).filter((id) => id.includes("gone")).sort();

  it("collects her invoices with the charges they were paid by, and not the invoice made out to someone else", async () => {
    expect(idsOf(await collectAll(connector, GRACE))).to.deep.equal(["ch_gone_old", "ch_gone_recent", "in_gone_old", "in_gone_recent"]);
  });

  it("erases them under the 7-year rule: the old invoice redacted at Stripe, the recent one kept with its metadata blanked, the other's untouched", async () => {
    const ctx = testContext();
    for (let outcome: ErasureOutcome = await connector.erase(GRACE, { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: SEVEN_YEARS_BEFORE } }, ctx); outcome.remote; ) outcome = await connector.poll(outcome.remote.reference, ctx);
    const invoice = (id: string) => standIn.store.get("invoice", id)!;
    expect(personalFields("invoice", invoice("in_gone_old")), "what the old invoice still holds at Stripe").to.deep.equal([]);
    expect(invoice("in_gone_recent").metadata, "the recent invoice's metadata at Stripe").to.deep.equal({});
    expect(invoice("in_gone_recent").customer_email).to.equal(GRACE_PERSON.email);
    expect(invoice("in_gone_other")).to.deep.include({ customer_email: "someone.else@example.com", metadata: { order: "other" } });
    expect(idsOf(await collectAll(connector, GRACE)), "what collect finds after").to.deep.equal(["ch_gone_recent", "in_gone_recent"]);
  });
});
