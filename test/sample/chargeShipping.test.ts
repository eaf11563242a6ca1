import { expect } from "chai";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase } from "../support/databases";
import { download, exportLink } from "../export/support";
import { runVerified, sampleSetup } from "../identity/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector plannedFound erased kept residual matchesPlan }
  tasks { connector step status outcome { records } } } }`;
const WHERE = { line1: "12 St James's Square", line2: null, city: "London", state: null, postal_code: "SW1Y 4LB", country: "GB" };

/**
 * A charge carries where the goods went (`shipping`: name, phone, address), as the PaymentIntent that
 * made it does, and an invoice its customer's (`customer_shipping`): the hardware keys Ada bought were
 * sent to her. Checked against the export and the
 * Stripe stand-in's own data.
 */
describeEachDatabase("the shipping and billing details of a person's charges", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("are in her access export, and after her deletion no charge holds them, nor an invoice but those the tax rule keeps", async () => {
    const ada = setup.ws.people[0];
    const store = setup.ws.stripe.store;
    const charges = () => store.all("charge").filter((c) => c.customer === ada.paymentCustomerId);
    const invoices = () => store.all("invoice").filter((c) => c.customer === ada.paymentCustomerId);
    const shipping = { name: ada.name, phone: ada.phone ?? null, address: WHERE };
    for (const charge of charges()) store.put({ ...charge, shipping: { ...shipping, carrier: null, tracking_number: null } }, "test.seed");
    for (const invoice of invoices()) store.put({ ...invoice, customer_shipping: shipping }, "test.seed");
    const shippedToHer = () => charges().filter((c) => JSON.stringify(c.shipping ?? null).includes(ada.name)).length;
    const billedShippingToHer = () => invoices().filter((c) => JSON.stringify(c.customer_shipping ?? null).includes(ada.name)).length;
    expect([shippedToHer(), billedShippingToHer()]).to.deep.equal([60, 60]);

    const access = await runVerified(setup.t, SHOW, "ACCESS", ada.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const zip = ZipReader.open((await download((await exportLink(setup.t, access.id)).url)).file!);
    const payments = JSON.parse(await zip.text("data/payments.json")) as { type: string; data: Record<string, any> }[];
    zip.close();
    // Before: the export left every charge's shipping out (0 of 60).
    expect(payments.filter((r) => r.type === "charge" && r.data.shipping?.name === ada.name && r.data.shipping?.address?.line1 === WHERE.line1)).to.have.length(60);
    expect(payments.filter((r) => r.type === "invoice" && r.data.customer_shipping?.name === ada.name && r.data.customer_shipping?.address?.line1 === WHERE.line1)).to.have.length(60);

    const deletion = await runVerified(setup.t, SHOW, "DELETION", ada.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Before: all 60 still held her name and address, kept and redacted alike, and the deletion completed.
    expect(shippedToHer(), "charges still shipped to her by name").to.equal(0);
    // A finalized invoice takes no edit: those the tax rule keeps (57) keep it, the old ones were redacted.
    expect(billedShippingToHer(), "invoices still shipped to her by name").to.equal(57);
    expect(deletion.deletionOutcome.find((l: any) => l.connector === "payments")).to.deep.include({ residual: 0, matchesPlan: true });
  });

  it("carries, in her access export, the billing details each of her charges and cards holds", async () => {
    const ada = setup.ws.people[0];
    const store = setup.ws.stripe.store;
    const held = (kind: "charge" | "payment_method") => store.all(kind).filter((o) => o.customer === ada.paymentCustomerId && (o.billing_details as Record<string, unknown>)?.name === ada.name).length;
    expect([held("charge"), held("payment_method")]).to.deep.equal([60, 1]);
    const access = await runVerified(setup.t, SHOW, "ACCESS", ada.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const zip = ZipReader.open((await download((await exportLink(setup.t, access.id)).url)).file!);
    const payments = JSON.parse(await zip.text("data/payments.json")) as { type: string; data: Record<string, any> }[];
    zip.close();
    const exported = (type: string) => payments.filter((r) => r.type === type && r.data.billing_details?.name === ada.name && r.data.billing_details?.email === ada.email).length;
    // Before: neither a charge nor a card carried its billing name, email, phone or address (0 and 0).
    expect([exported("charge"), exported("payment_method")]).to.deep.equal([60, 1]);
    // A card is still only its brand, last 4 digits and expiry beside them.
    expect(Object.keys(payments.find((r) => r.type === "payment_method")!.data.card).sort()).to.deep.equal(["brand", "exp_month", "exp_year", "last4"]);
  });
});
