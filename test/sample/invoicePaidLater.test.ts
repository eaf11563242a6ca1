import { expect } from "chai";
import { personalFields } from "../../src/connectors/stripe/records";
import { shiftByPeriod } from "../../src/domain/retention";
import { describeEachDatabase } from "../support/databases";
import { TEST_START } from "../support/harness";
import { runVerified, sampleSetup } from "../identity/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector plannedFound plannedToErase plannedToKeep erased kept residual matchesPlan }
  tasks { connector step status } } }`;
const DAY = 86_400;

/**
 * An invoice sent with 30 days to pay: finalized just before the 7-year line, paid (its charge made)
 * just after it. The charge is a tax record the rule keeps; a redaction job given the invoice redacts
 * the charge that paid it too. Checked against the Stripe stand-in's own data.
 */
describeEachDatabase("an invoice finalized outside the 7-year rule and paid inside it", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("is kept with the charge that paid it, which keeps her billing details, and the deletion says so", async () => {
    const ada = setup.ws.people[0];
    const store = setup.ws.stripe.store;
    const cutoff = shiftByPeriod(TEST_START, { years: 7, days: 0 }, -1).getTime() / 1000;
    const invoice = store.all("invoice").filter((i) => i.customer === ada.paymentCustomerId && (i.created as number) < cutoff)[0];
    store.put({ ...invoice, created: cutoff - 20 * DAY, status_transitions: { finalized_at: cutoff - 20 * DAY, paid_at: cutoff + 10 * DAY } }, "test.seed");
    const charge = store.get("charge", invoice.charge as string)!;
    store.put({ ...charge, created: cutoff + 10 * DAY }, "test.seed");

    const deletion = await runVerified(setup.t, SHOW, "DELETION", ada.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Before: the invoice went to a redaction job, which redacted the kept charge with it (its billing
    // details "[redacted]"), while the deletion reported the charge kept for the books.
    expect(personalFields("charge", store.get("charge", charge.id)!), "the kept charge's billing details at Stripe").to.include("billing_details.name");
    expect(personalFields("invoice", store.get("invoice", invoice.id)!), "the invoice's billed name at Stripe").to.include("customer_name");
    expect(deletion.deletionOutcome.find((l: any) => l.connector === "payments")).to.deep.include({ plannedToKeep: 119, kept: 119, plannedToErase: 4, erased: 4, residual: 0, matchesPlan: true });
  });
});
