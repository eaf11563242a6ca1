import { expect } from "chai";
import { StripeConnector } from "../../src/connectors/stripe";
import { StripeStandIn } from "../../src/sample/stripe";
import { connectorFor, GRACE, GRACE_PERSON, heldFor, repeatedEffects, retryLoop, startStandIn } from "./support/stripeStandIn";

const GRACE_CUSTOMER = GRACE_PERSON.paymentCustomerId!;

/**
 * Stripe binds only a POST to its Idempotency-Key: a DELETE (a subscription's cancel, a customer's
 * delete) is idempotent by definition, and its key has no effect. A DELETE whose answer was lost (done
 * at Stripe, the connection dropped) is repeated, inline or by the task's retry, and meets what the
 * first one left: the subscription already canceled, the customer already deleted. Checked against the
 * stand-in's own store, which replays no DELETE by its key, as Stripe does not.
 */
describe("a Stripe DELETE whose answer was lost, repeated", function () {
  this.timeout(30_000);
  let standIn: StripeStandIn;
  let connector: StripeConnector;
  beforeEach(async () => {
    standIn = await startStandIn();
    connector = connectorFor(standIn);
  });
  afterEach(async () => {
    await connector.close();
    await standIn.close();
  });

  for (const [what, route] of [
    ["a subscription's cancel", /^DELETE \/v1\/subscriptions\/:id$/],
    ["a customer's delete", /^DELETE \/v1\/customers\/:id$/],
  ] as const) {
    it(`finishes the erasure when ${what} is repeated inline after its answer was lost, each done once at Stripe`, async () => {
      standIn.faults.match = route;
      standIn.faults.next.push("hang");
      const run = await retryLoop((ctx) => connector.erase(GRACE, { categories: ["PAYMENTS"] }, ctx), 3);
      expect(run.attempts, "attempts of the task").to.equal(1);
      expect(standIn.calls.count("hang")).to.equal(1);
      expect(repeatedEffects(standIn)).to.deep.equal([]);
      expect(standIn.store.get("customer", GRACE_CUSTOMER)).to.deep.equal({ id: GRACE_CUSTOMER, object: "customer", deleted: true });
      expect(heldFor(standIn, "subscription", GRACE_CUSTOMER).map((s) => s.status)).to.satisfy((all: string[]) => all.every((s) => s === "canceled"));
    });
  }
});
