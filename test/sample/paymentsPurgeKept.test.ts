import { expect } from "chai";
import { collectAll } from "../../src/connectors/testing/conformance";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { runVerified, sampleSetup } from "../identity/support";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status lastError outcome { erased kept } }
  residualRecords { connector recordType records }
  retentionExceptions { connector category recordType recordCount status } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;

/**
 * The payment processor (Stripe). A hold on payments kept her customer and charges; she paid again
 * after the deletion; the hold's release purged what the 7-year rule does not keep, and counted her
 * new charge into the old request's kept sets. Checked in the stand-in's own store.
 */
describeEachDatabase("the payment processor's purge of what a deletion kept", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("leaves the charge she paid since the deletion, and keeps it out of the old request's kept sets", async function () {
    this.timeout(120_000);
    const { t, ws } = setup;
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["PAYMENTS"], reason: "audit", caseReference: "P-1" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");

    // She pays again: a new charge on her (held, so kept) customer.
    const payments = ws.connectors.find((c) => c.spec.name === "payments")!;
    const store = ws.stripe.store;
    const customer = store.all("customer").find((c) => String(c.email).toLowerCase() === ADA)!;
    // The account database erased her (it gave the customer id): the payment processor is asked by that id.
    const ids = { email: ADA, paymentCustomerId: customer.id };
    const model = store.all("charge").find((c) => c.customer === customer.id)!;
    expect(model, "she has a charge to model hers on").to.not.equal(undefined);
    t.clock.advance(60_000);
    store.put({ ...model, id: "ch_since_deletion", invoice: null, created: Math.floor(t.clock.now().getTime() / 1000) }, "test");

    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const show = async () => {
      t.clock.advance(1000);
      return (await t.ok(SHOW, { id: deletion.id })).request;
    };
    await t.waitFor(
      async () => {
        const purge = (await show()).tasks.find((y: any) => y.connector === "payments" && y.step === "PURGE");
        return purge && ["SUCCEEDED", "FAILED"].includes(purge.status) ? purge : undefined;
      },
      "payments purge ended",
      60_000,
    );
    // Read again once it ended: one read's tasks and exceptions are two queries, and the purge's commit may fall between them.
    const after = await show();
    const purge = after.tasks.find((y: any) => y.connector === "payments" && y.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(store.get("charge", "ch_since_deletion"), "her new charge stays as it was").to.deep.include({ billing_details: model.billing_details });

    // Every charge of hers still there is kept by the old request's exceptions, or residual, or her new one: that one only is not the old request's.
    const charges = (await collectAll(payments, ids)).filter((r) => r.type === "charge");
    expect(charges.map((r) => r.id)).to.include("ch_since_deletion");
    const residual = after.residualRecords.filter((r: any) => r.connector === "payments" && r.recordType === "charge").reduce((n: number, r: any) => n + r.records, 0);
    const kept = after.retentionExceptions.filter((e: any) => e.connector === "payments" && e.recordType === "charge" && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
    expect(kept, "the old request keeps the charges it kept, not her new one").to.equal(charges.length - residual - 1);
  });
});
