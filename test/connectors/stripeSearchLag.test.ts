import { expect } from "chai";
import { ConnectorConfigError, SubjectRecord } from "../../src/connectors/sdk";
import { createStripeConnector, StripeConnector } from "../../src/connectors/stripe";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { SAMPLE_EPOCH } from "../../src/sample/people";
import { StripeStandIn } from "../../src/sample/stripe";
import { connectorFor, GRACE, GRACE_PERSON, startStandIn } from "./support/stripeStandIn";

const SEVEN_YEARS_BEFORE = new Date(Date.UTC(SAMPLE_EPOCH.getUTCFullYear() - 7, SAMPLE_EPOCH.getUTCMonth(), SAMPLE_EPOCH.getUTCDate()));

/**
 * Stripe's Search API lags behind writes (its documentation: usually under a minute, up to an hour in
 * an outage; "don't use search for read-after-write flows"), and the customer list's email filter is
 * case-sensitive. A checkout made moments before the person asks, with the address typed in mixed case
 * (`Grace.Hopper@Example.com`, as a phone capitalises it), leaves a customer and a charge that neither
 * finds: the export lacks them and a deletion leaves them as they were, with nothing said. Asked of the
 * stand-in's own store, its search index a minute behind.
 */
describe("Stripe objects made moments before the request, the address in mixed case", function () {
  this.timeout(60_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  const typed = "Grace.Hopper@Example.com";
  const now = () => Math.floor(Date.now() / 1000);

  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn);
    standIn.store.searchLagMs = 60_000;
    const address = { line1: "1 Fresh Row", city: "London", postal_code: "N1 9GU", country: "GB" };
    // A guest checkout a moment ago: a customer of its own, and a charge with no customer.
    standIn.store.put({ id: "cus_fresh_mixed", object: "customer", created: now(), email: typed, name: GRACE_PERSON.name, phone: "+442079460001", description: "checkout", metadata: {}, livemode: false }, "test.checkout");
    standIn.store.put(
      { id: "ch_fresh_guest", object: "charge", created: now(), customer: null, amount: 1999, currency: "gbp", status: "succeeded", receipt_email: typed, shipping: { name: GRACE_PERSON.name, address }, metadata: { order: "fresh" }, billing_details: { name: GRACE_PERSON.name, email: typed, phone: null, address }, invoice: null, livemode: false },
      "test.checkout",
    );
    // Someone else's, made as freshly: a lookalike address.
    standIn.store.put({ id: "cus_fresh_other", object: "customer", created: now(), email: "Grace.Hopper@Example.org", name: "Someone Else", phone: "+442079460002", metadata: {}, livemode: false }, "test.checkout");
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  const idsOf = (records: SubjectRecord[]) => records.map((r) => r.id);

  it("collects the customer and the guest charge, reading what Stripe created lately rather than only its search index, and not the lookalike's", async () => {
    const searched = await fetch(`${standIn.url}/v1/customers/search?query=${encodeURIComponent(`email:'${GRACE.email}'`)}`, { headers: { authorization: "Bearer sk_test_dsr_stand_in" } });
    expect(((await searched.json()) as { data: { id: string }[] }).data.map((c) => c.id), "what search answers now").to.deep.equal([GRACE_PERSON.paymentCustomerId]);
    const found = idsOf(await collectAll(connector, GRACE));
    expect(found).to.include.members(["cus_fresh_mixed", "ch_fresh_guest", GRACE_PERSON.paymentCustomerId]);
    expect(found).not.to.include("cus_fresh_other");
  });

  it("erases them under the 7-year rule (kept, with what tax records do not need blanked at Stripe), and leaves the lookalike's as it was", async () => {
    await connector.erase(GRACE, { categories: ["PAYMENTS"], keepRecordedSince: { PAYMENTS: SEVEN_YEARS_BEFORE } }, testContext());
    const customer = standIn.store.get("customer", "cus_fresh_mixed")!;
    expect(customer.phone, "the fresh customer's phone at Stripe").to.equal(null);
    expect(customer.description).to.equal(null);
    const charge = standIn.store.get("charge", "ch_fresh_guest")!;
    expect(charge.receipt_email, "the fresh guest charge's receipt email at Stripe").to.equal(null);
    expect(charge.shipping).to.equal(null);
    expect(standIn.store.get("customer", "cus_fresh_other")!.phone).to.equal("+442079460002");
  });

  it("refuses a searchLagMs that is not a whole number of milliseconds up to a day, naming the option", () => {
    for (const searchLagMs of [-1, 86_400_001, 1.5]) {
      expect(() => createStripeConnector({ apiKey: "sk_test_x", searchLagMs }), String(searchLagMs)).to.throw(ConnectorConfigError, /searchLagMs must be a whole number/);
    }
  });

  it("deletes the fresh customer, when no rule keeps payment records", async () => {
    await connector.erase(GRACE, { categories: ["PAYMENTS"] }, testContext());
    expect(standIn.store.get("customer", "cus_fresh_mixed")).to.deep.equal({ id: "cus_fresh_mixed", object: "customer", deleted: true });
    expect(standIn.store.get("customer", "cus_fresh_other")!.deleted).to.equal(undefined);
  });
});
