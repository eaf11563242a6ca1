import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { verifyCertificateWithKey } from "../../src/certificates/verifyFile";
import { StripeConnector } from "../../src/connectors/stripe";
import { StripeStandIn } from "../../src/sample/stripe";
import { describeEachDatabase, tempDir } from "../support/databases";
import { Role } from "../../src/domain/enums";
import { submit, TestService } from "../support/harness";
import { connectorFor, GRACE_PERSON, startStandIn } from "../connectors/support/stripeStandIn";
import { archiveTexts, download, exportLink, FAST } from "./support";

const NOT_SEARCHED = `query($id: ID!) { request(id: $id) { status statusReason notSearched { connector category recordType reason } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { signed completedAt keyId notSearched { connector category recordType reason } } certificatePublicKey { pem } }`;

/** The archive of a request's export, read through a fresh link. */
async function archive(t: TestService, requestId: string) {
  return archiveTexts((await download((await exportLink(t, requestId)).url)).file!);
}

/**
 * Grace paid as a guest three ways the payment connector may not be able to look for: a charge with
 * no customer (found through Stripe's Search API only), a Checkout Session whose email she typed in
 * mixed case (Stripe's filter matches case exactly), and a PaymentIntent no charge or session names
 * (an abandoned checkout: nothing to search it by). The request, its export and its certificate must
 * name each kind the connector could not search for, and nothing else: checked against what the
 * stand-in holds and what the export carries.
 */
describeEachDatabase("kinds of record a connector could not search for", (db) => {
  for (const emailLookup of ["list", "search"] as const) {
    describe(`Stripe with emailLookup "${emailLookup}"`, () => {
      let stripe: StripeStandIn;
      let connector: StripeConnector;
      let t: TestService;
      const email = GRACE_PERSON.email;
      before(async function () {
        this.timeout(60_000);
        stripe = await startStandIn();
        connector = connectorFor(stripe, { emailLookup, timeoutMs: 5_000 });
        t = await new TestService(db(), FAST, [connector]).start();
        const created = Math.floor(t.clock.now().getTime() / 1000) - 30 * 86_400;
        const mixed = email.replace(/^./, (c) => c.toUpperCase());
        expect(mixed).to.not.equal(email.toLowerCase());
        stripe.store.put({ id: "ch_guest_plain", object: "charge", created, customer: null, amount: 900, currency: "gbp", status: "succeeded", receipt_email: null, metadata: {}, billing_details: { name: GRACE_PERSON.name, email, phone: null, address: null }, invoice: null, payment_intent: null, livemode: false }, "test.seed");
        stripe.store.put({ id: "cs_guest_mixed", object: "checkout.session", created, customer: null, customer_email: null, customer_details: { email: mixed, name: GRACE_PERSON.name, phone: null, address: null }, shipping_details: null, status: "complete", payment_status: "paid", mode: "payment", amount_total: 900, currency: "gbp", payment_intent: null, metadata: {}, livemode: false }, "test.seed");
        stripe.store.put({ id: "pi_guest_abandoned", object: "payment_intent", created, customer: null, amount: 900, currency: "gbp", status: "requires_payment_method", receipt_email: email, shipping: { name: GRACE_PERSON.name, phone: null, address: { line1: "1 Cart Lane", city: "Leeds", country: "GB" } }, metadata: {}, livemode: false }, "test.seed");
      });
      after(async () => {
        await t?.stop();
        await connector?.close();
        await stripe?.close();
      });

      const finished = async (type: string) => {
        const r = await submit(t, { type, subject: { email }, identityVerified: true, verificationEvidence: "test" });
        await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
        const done = await t.waitFor(async () => {
          const x = (await t.ok(NOT_SEARCHED, { id: r.id })).request;
          return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
        }, `${type} finished`, 30_000);
        expect(done.status, done.statusReason).to.equal("COMPLETED");
        return { id: r.id as string, notSearched: done.notSearched as { connector: string; category: string; recordType: string; reason: string }[] };
      };
      const expectedTypes = emailLookup === "list" ? ["charge", "checkout_session", "customer", "payment_intent"] : ["checkout_session", "payment_intent"];

      it("names in the request, the export's manifest, index.html and README.txt exactly the kinds it could not search for, and those are the ones the export lacks", async function () {
        this.timeout(60_000);
        const access = await finished("ACCESS");
        expect(access.notSearched.map((n) => n.recordType).sort()).to.deep.equal(expectedTypes);
        expect(access.notSearched.every((n) => n.connector === connector.spec.name && n.category === "PAYMENTS" && n.reason.length > 20 && !n.reason.includes(email))).to.equal(true);

        const { manifest, data, html, readme } = await archive(t, access.id);
        expect(manifest.notSearched).to.deep.equal(access.notSearched.map((n) => ({ connector: n.connector, category: n.category, type: n.recordType, reason: n.reason })));
        expect(html).to.include(`<h2 id="not-searched">`);
        for (const n of access.notSearched) {
          expect(html).to.include(`data-type="${n.recordType}"`);
          expect(readme).to.include(`  ${n.connector} ${n.recordType} (PAYMENTS): `);
        }
        // Asked of the stand-in and the archive: what the export lacks is what was declared not searched.
        for (const id of ["ch_guest_plain", "cs_guest_mixed", "pi_guest_abandoned"]) expect(stripe.store.get(id.startsWith("ch_") ? "charge" : id.startsWith("cs_") ? "checkout_session" : "payment_intent", id), `${id} is held`).to.not.equal(undefined);
        expect(data.includes('"ch_guest_plain"'), "the guest charge is exported exactly when it was searched for").to.equal(emailLookup === "search");
        expect(data).to.not.include('"cs_guest_mixed"');
        expect(data).to.not.include('"pi_guest_abandoned"');
      });

      it("names them in the deletion certificate, which verifies and says so, and the stand-in still holds what was not searched", async function () {
        this.timeout(60_000);
        const { previewDeletion } = await t.ok(`mutation($email: String!) { previewDeletion(input: { subject: { email: $email } }) { notSearched { connector category recordType reason } } }`, { email });
        const deletion = await finished("DELETION");
        expect(previewDeletion.notSearched, "the preview names what the deletion will not search for").to.deep.equal(deletion.notSearched);
        expect(deletion.notSearched.map((n) => n.recordType).sort()).to.deep.equal(expectedTypes);
        const { deletionCertificate: cert, certificatePublicKey } = await t.ok(CERTIFICATE, { id: deletion.id }, Role.AUDITOR);
        expect(cert.notSearched).to.deep.equal(deletion.notSearched);
        const signed = JSON.parse(cert.signed).certificate;
        expect(signed.format).to.equal("dsr-deletion-certificate/8");
        expect(signed.notSearched).to.deep.equal(deletion.notSearched);
        const dir = tempDir("dsr-not-searched-");
        const file = path.join(dir, "certificate.json");
        fs.writeFileSync(file, cert.signed);
        const verified = verifyCertificateWithKey(file, certificatePublicKey.pem);
        expect(verified.ok).to.equal(true);
        expect((verified as { line: string }).line).to.include(`${expectedTypes.length} kind(s) of record not searched (${deletion.notSearched.map((n) => `${n.connector} ${n.recordType}`).join(", ")})`);
        fs.rmSync(dir, { recursive: true, force: true });
        // What was not searched was not erased either: the abandoned PaymentIntent still names her.
        expect(stripe.store.get("payment_intent", "pi_guest_abandoned")).to.deep.include({ receipt_email: email });
        expect((stripe.store.get("checkout_session", "cs_guest_mixed")!.customer_details as { name: string }).name).to.equal(GRACE_PERSON.name);
      });
    });
  }
});
