import { expect } from "chai";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { StripeConnector } from "../../src/connectors/stripe";
import { StripeStandIn } from "../../src/sample/stripe";
import { API_KEY, connectorFor, GRACE, GRACE_PERSON, startStandIn } from "./support/stripeStandIn";

const YEAR_SECONDS = 365 * 86_400;

/**
 * An older customer whose address was changed (not created) to the subject's moments before the
 * request, typed in mixed case: Stripe's search index still holds the old address (it lags behind
 * writes), the list's email filter matches case exactly, and the customer was created long before
 * searchLagMs, so none of the look-ups by address or by creation finds it. Stripe writes a
 * `customer.updated` event with every change. Checked against the stand-in's own store, its search
 * index a minute behind.
 */
describe("a Stripe customer whose address was changed to the subject's within the search lag", function () {
  this.timeout(30_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  const typed = "Grace.Hopper@Example.com";
  const now = () => Math.floor(Date.now() / 1000);

  /** Changes a customer through the stand-in's API, as the platform or an agent in the Dashboard would. */
  async function change(id: string, email: string): Promise<void> {
    const res = await fetch(`${standIn.url}/v1/customers/${id}`, { method: "POST", headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ email }) });
    expect(res.status, `changing ${id}`).to.equal(200);
  }

  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn);
    const old = now() - 3 * YEAR_SECONDS;
    // A guest checkout's customer from three years ago under an old address, and two others.
    for (const [id, email, name] of [
      ["cus_changed", "g.hopper@oldmail.example", GRACE_PERSON.name],
      ["cus_changed_other", "someone@oldmail.example", "Someone Else"],
      ["cus_changed_back", "g.hopper.work@oldmail.example", GRACE_PERSON.name],
    ]) {
      standIn.store.put({ id, object: "customer", created: old, email, name, phone: "+442079460009", description: "guest checkout", metadata: {}, livemode: false }, "test.seed");
    }
    standIn.store.searchLagMs = 60_000;
    await change("cus_changed", typed);
    // A lookalike address, and one that had the subject's address for a moment and was changed on.
    await change("cus_changed_other", "Grace.Hopper@Example.org");
    await change("cus_changed_back", typed);
    await change("cus_changed_back", "g.hopper.work@newmail.example");
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  it("is collected, found through the events of recent changes and read as it is now; the lookalike and the one changed on are not", async () => {
    const searched = await fetch(`${standIn.url}/v1/customers/search?query=${encodeURIComponent(`email:'${GRACE.email}'`)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(((await searched.json()) as { data: { id: string }[] }).data.map((c) => c.id), "what search answers now").to.deep.equal([GRACE_PERSON.paymentCustomerId]);
    const found = (await collectAll(connector, GRACE)).filter((r) => r.type === "customer").map((r) => r.id);
    expect(found.sort()).to.deep.equal(["cus_changed", GRACE_PERSON.paymentCustomerId].sort());
  });

  it("is deleted by the erasure, at Stripe, and the others stay as they were", async () => {
    await connector.erase(GRACE, { categories: ["PAYMENTS"] }, testContext());
    expect(standIn.store.get("customer", "cus_changed"), "the changed customer at Stripe").to.deep.equal({ id: "cus_changed", object: "customer", deleted: true });
    expect(standIn.store.get("customer", "cus_changed_other")!.email).to.equal("Grace.Hopper@Example.org");
    expect(standIn.store.get("customer", "cus_changed_back")!.email).to.equal("g.hopper.work@newmail.example");
  });

  it("says it could not look for such customers, rather than fail or stay silent, when the API key may not read events", async () => {
    standIn.faults.forbidden = /^GET \/v1\/events$/;
    const notSearched: { type: string; reason: string }[] = [];
    const records = await collectAll(connector, GRACE, testContext({ notSearched: (set) => void notSearched.push(set) }));
    expect(records.filter((r) => r.type === "customer").map((r) => r.id)).to.deep.equal([GRACE_PERSON.paymentCustomerId]);
    expect(notSearched.filter((s) => s.type === "customer").map((s) => s.reason)).to.satisfy((reasons: string[]) => reasons.some((r) => /may not read the events/.test(r)));
    expect(standIn.calls.byRoute["GET /v1/events"], "events asked").to.be.at.least(1);
  });

  it("fails check, saying what goes unfound and what to grant, when the API key may not read events; passes it when nothing reads them", async () => {
    expect((await connector.check(testContext())).ok, "a key that may read events").to.equal(true);
    standIn.faults.forbidden = /^GET \/v1\/events$/;
    const check = await connector.check(testContext());
    expect(check.ok).to.equal(false);
    expect(check.message).to.match(/may not read events/).and.match(/changed to a subject's within searchLagMs/).and.match(/Grant the restricted key read access to events/);
    for (const options of [{ searchLagMs: 0 }, { emailLookup: "list" as const }]) {
      const other = connectorFor(standIn, options);
      expect((await other.check(testContext())).ok, JSON.stringify(options)).to.equal(true);
      await other.close();
    }
  });

  it("pages through every event of the window, the subject's change behind a page of other customers' changes", async () => {
    for (let i = 0; i < 30; i++) {
      standIn.store.put({ id: `cus_busy${i}`, object: "customer", created: now() - YEAR_SECONDS, email: `busy${i}@example.net`, name: "Busy", metadata: {}, livemode: false }, "test.seed");
      await change(`cus_busy${i}`, `busy${i}@example.org`);
    }
    // pageSize 25: the subject's change is on the second page of events, after 25 pages' worth of others.
    const found = (await collectAll(connector, GRACE)).filter((r) => r.type === "customer").map((r) => r.id);
    expect(found).to.include("cus_changed");
    expect(standIn.calls.byRoute["GET /v1/events"], "event pages read").to.be.at.least(2);
  });
});
