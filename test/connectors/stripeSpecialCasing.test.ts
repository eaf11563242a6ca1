import { expect } from "chai";
import { normalizeEmail } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { StripeConnector } from "../../src/connectors/stripe";
import { StripeStandIn } from "../../src/sample/stripe";
import { connectorFor, startStandIn } from "./support/stripeStandIn";

const YEAR_SECONDS = 365 * 86_400;

/**
 * Stripe's list filter on a customer's email matches case exactly, so the connector asks it for the
 * address in matching form and in capitals. Capitals of `ß` and of the Turkish `İ` are not what
 * JavaScript's toUpperCase writes (`SS`; `I` and a combining dot): a customer stored as
 * `GRETE.STRAẞE@EXAMPLE.COM` or `İNCI.YILMAZ@EXAMPLE.COM` (created years ago, so no look-up by
 * creation finds it) must be found under emailLookup "list", and the `SS` and plain `I` addresses are
 * other people. Checked against the stand-in's own store.
 */
describe("Stripe customers stored in capitals with ẞ or İ, found through the list filter", function () {
  this.timeout(30_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  const customers = [
    ["cus_grete", "GRETE.STRAẞE@EXAMPLE.COM"],
    ["cus_strasse", "GRETE.STRASSE@EXAMPLE.COM"],
    ["cus_inci", "İNCI.YILMAZ@EXAMPLE.COM"],
    ["cus_plain_inci", "INCI.YILMAZ@EXAMPLE.COM"],
  ];

  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn, { emailLookup: "list" });
    const old = Math.floor(Date.now() / 1000) - 3 * YEAR_SECONDS;
    for (const [id, email] of customers) standIn.store.put({ id, object: "customer", created: old, email, name: id, metadata: {}, livemode: false }, "test.seed");
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  const customersOf = async (email: string) => (await collectAll(connector, { email: normalizeEmail(email) })).filter((r) => r.type === "customer").map((r) => r.id);

  it("collects each person's customer alone, and erases it alone", async () => {
    expect(await customersOf("Grete.Straße@example.com")).to.deep.equal(["cus_grete"]);
    expect(await customersOf("İnci.Yilmaz@example.com")).to.deep.equal(["cus_inci"]);
    expect(await customersOf("grete.strasse@example.com")).to.deep.equal(["cus_strasse"]);
    expect(await customersOf("inci.yilmaz@example.com")).to.deep.equal(["cus_plain_inci"]);
    await connector.erase({ email: normalizeEmail("Grete.Straße@example.com") }, { categories: ["PAYMENTS"] }, testContext());
    await connector.erase({ email: normalizeEmail("İnci.Yilmaz@example.com") }, { categories: ["PAYMENTS"] }, testContext());
    const deleted = customers.filter(([id]) => standIn.store.get("customer", id)?.deleted === true).map(([id]) => id);
    expect(deleted).to.deep.equal(["cus_grete", "cus_inci"]);
  });
});
