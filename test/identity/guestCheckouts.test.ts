import { expect } from "chai";
import { normalizeEmail } from "../../src/domain/identities";
import { createStripeConnector, StripeConnector } from "../../src/connectors/stripe";
import { samplePeople } from "../../src/sample/people";
import { startStripeStandIn, StripeStandIn } from "../../src/sample/stripe";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified, sampleSetup } from "./support";
import { downloadRoster, drawRoster } from "../roster/support";
import { download, exportLink } from "../export/support";
import { ZipReader } from "../../src/export/zipReader";
import type { Manifest } from "../../src/export/format";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status lastError outcome { records erased } } } }`;
const GUESTS = 25;

/** Adds GUESTS customers at the payment processor under the person's address as stored, some in upper case; returns their ids. */
function addGuestCheckouts(stripe: StripeStandIn, person: { email: string; name: string }): string[] {
  const ids: string[] = [];
  for (let i = 0; i < GUESTS; i++) {
    const id = `cus_guest${String(i).padStart(3, "0")}`;
    stripe.store.put({ id, object: "customer", created: Date.UTC(2015, 0, 1 + i) / 1000, email: i % 4 ? person.email : person.email.toUpperCase(), name: person.name, metadata: {}, livemode: false }, "test.seed");
    ids.push(id);
  }
  return ids;
}

/** Live customers with the address, read from the stand-in's own store (not through the connector). */
function liveCustomersOf(stripe: StripeStandIn, email: string): string[] {
  return stripe.store
    .all("customer")
    .filter((c) => !c.deleted && typeof c.email === "string" && normalizeEmail(c.email) === normalizeEmail(email))
    .map((c) => c.id)
    .sort();
}

/** Submits a verified request for `email`, approves it, and reads it (with SHOW) once it has ended. */
const run = (t: TestService, type: string, email: string) => runVerified(t, SHOW, type, email);

/**
 * Stripe makes a customer for each guest checkout: a person's address can have many customers beside
 * the one their account links to. Grace (the sample workspace's people[1]) checked out 25 times as a
 * guest; her account database links her one account customer, which the plan's RESOLVE finds. Access
 * and deletion must reach every one, and an installation that caps the number must fail, not complete.
 */
describeEachDatabase("a subject with many Stripe customers (guest checkouts)", (db) => {
  const setup = sampleSetup(db, SHOW);

  const guestCheckouts = () => addGuestCheckouts(setup.ws.stripe, setup.ws.people[1]);
  const liveWithHerAddress = () => liveCustomersOf(setup.ws.stripe, setup.ws.people[1].email);

  it("exports every customer, guest charge, guest Checkout Session and its PaymentIntent for an access request, and erases every one for a deletion", async () => {
    const grace = setup.ws.people[1];
    const payments = setup.ws.connectors.find((c) => c.spec.name === "payments")!;
    // What her account's customer holds, asked by its id before the guests exist.
    const linked = (await collectAll(payments, { email: grace.email, paymentCustomerId: grace.paymentCustomerId! })).length;
    const guests = guestCheckouts();
    // Two payments she made as a guest without Stripe making a customer: one long ago, one last year.
    const old = Date.UTC(2012, 2, 1) / 1000;
    const recent = Math.floor(setup.t.clock.now().getTime() / 1000) - 365 * 86_400;
    for (const [id, created] of [["ch_guest_old", old], ["ch_guest_recent", recent]] as const) {
      setup.ws.stripe.store.put(
        { id, object: "charge", created, customer: null, amount: 2500, currency: "gbp", status: "succeeded", description: "Guest checkout", receipt_email: grace.email, metadata: {}, billing_details: { name: grace.name, email: grace.email.toUpperCase(), phone: null, address: null }, invoice: null, livemode: false },
        "test.seed",
      );
    }
    // Two checkouts that left only a Checkout Session with what she typed (name, address, her email in upper case).
    // Their PaymentIntents hold where the goods went, and no email to search by.
    for (const [id, created] of [["cs_guest_old", old], ["cs_guest_recent", recent]] as const) {
      const intent = id.replace("cs_", "pi_");
      setup.ws.stripe.store.put(
        { id, object: "checkout.session", created, customer: null, customer_email: null, customer_details: { email: grace.email.toUpperCase(), name: grace.name, phone: null, address: { line1: "3 Guest Row", city: "York", country: "GB" } }, shipping_details: null, status: "complete", payment_status: "paid", mode: "payment", amount_total: 2500, currency: "gbp", payment_intent: intent, metadata: { source: "shop" }, livemode: false },
        "test.seed",
      );
      setup.ws.stripe.store.put(
        { id: intent, object: "payment_intent", created, customer: null, amount: 2500, currency: "gbp", status: "succeeded", receipt_email: null, shipping: { name: grace.name, phone: null, address: { line1: "3 Guest Row", city: "York", country: "GB" } }, metadata: { source: "shop" }, livemode: false },
        "test.seed",
      );
    }
    expect(liveWithHerAddress()).to.deep.equal([grace.paymentCustomerId!, ...guests].sort());
    const access = await run(setup.t, "ACCESS", grace.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT");
    // Her account's customer and what it holds, and each guest customer (no records of their own).
    // ... and her guest charges, sessions and their PaymentIntents.
    expect(collect.outcome.records).to.equal(linked + GUESTS + 2 + 2 + 2);
    const deletion = await run(setup.t, "DELETION", grace.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Asked of the payment processor itself: no guest customer is left.
    for (const id of liveWithHerAddress()) expect(guests, `${id} is still live`).not.to.include(id);
    // The old guest charge was redacted; last year's is kept for the books, without her receipt address.
    expect((setup.ws.stripe.store.get("charge", "ch_guest_old")!.billing_details as Record<string, unknown>).email).to.equal("[redacted]");
    expect(setup.ws.stripe.store.get("charge", "ch_guest_recent")).to.deep.include({ receipt_email: null });
    // Likewise the sessions: the old one redacted; last year's kept with its metadata blanked.
    expect((setup.ws.stripe.store.get("checkout_session", "cs_guest_old")!.customer_details as Record<string, unknown>).name).to.equal("[redacted]");
    expect(setup.ws.stripe.store.get("checkout_session", "cs_guest_recent")).to.deep.include({ metadata: {} });
    expect((setup.ws.stripe.store.get("payment_intent", "pi_guest_old")!.shipping as Record<string, unknown>).name).to.equal("[redacted]");
    expect(setup.ws.stripe.store.get("payment_intent", "pi_guest_recent")).to.deep.include({ metadata: {} });
    // The service's account of it equals its plan, and the plan counted the sessions.
    const { request } = await setup.t.ok(`query($id: ID!) { request(id: $id) { deletionOutcome { connector erased kept matchesPlan plannedFound } } }`, { id: deletion.id });
    const line = request.deletionOutcome.find((l: any) => l.connector === "payments");
    expect(line, JSON.stringify(request.deletionOutcome)).to.deep.include({ matchesPlan: true, plannedFound: collect.outcome.records });
  });

  it("exports the disputes of her guest charges with their evidence, and a deletion keeps a recent one and names an old one residual, never changing the evidence", async () => {
    const grace = setup.ws.people[1];
    const payments = setup.ws.connectors.find((c) => c.spec.name === "payments")!;
    const linked = (await collectAll(payments, { email: grace.email, paymentCustomerId: grace.paymentCustomerId! })).length;
    const old = Date.UTC(2012, 2, 1) / 1000;
    const recent = Math.floor(setup.t.clock.now().getTime() / 1000) - 365 * 86_400;
    const evidence = { customer_name: grace.name, customer_email_address: grace.email, customer_purchase_ip: "198.51.100.23", billing_address: null, shipping_address: "3 Guest Row, York", uncategorized_text: null, product_description: "Hardware key" };
    for (const [id, created] of [["old", old], ["recent", recent]] as const) {
      setup.ws.stripe.store.put(
        { id: `ch_guest_${id}`, object: "charge", created, customer: null, disputed: true, amount: 2500, currency: "gbp", status: "succeeded", description: "Guest checkout", receipt_email: grace.email, metadata: {}, billing_details: { name: grace.name, email: grace.email.toUpperCase(), phone: null, address: null }, invoice: null, livemode: false },
        "test.seed",
      );
      setup.ws.stripe.store.put(
        { id: `dp_guest_${id}`, object: "dispute", created: created + 86_400 * 30, charge: `ch_guest_${id}`, payment_intent: null, amount: 2500, currency: "gbp", reason: "product_not_received", status: "won", evidence, metadata: { ticket: id }, livemode: false },
        "test.seed",
      );
    }
    const access = await run(setup.t, "ACCESS", grace.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.connector === "payments" && x.step === "COLLECT");
    // Her account's customer and what it holds, her 2 guest charges and their 2 disputes.
    expect(collect.outcome.records).to.equal(linked + 2 + 2);
    const deletion = await run(setup.t, "DELETION", grace.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Asked of the payment processor: the evidence as it was (a change would go to the bank), the metadata blanked.
    for (const id of ["dp_guest_old", "dp_guest_recent"]) expect(setup.ws.stripe.store.get("dispute", id), id).to.deep.include({ evidence, metadata: {} });
    const { request } = await setup.t.ok(
      `query($id: ID!) { request(id: $id) { residualRecords { connector recordType records fields reason } retentionExceptions { connector recordType recordCount } deletionPlan { connector toLeaveResidual residualReason } deletionOutcome { connector erased kept residual matchesPlan plannedFound plannedToLeaveResidual differences { kind records } } } }`,
      { id: deletion.id },
    );
    expect(request.residualRecords.filter((r: any) => r.recordType === "dispute")).to.deep.equal([
      { connector: "payments", recordType: "dispute", records: 1, fields: ["evidence.customer_email_address", "evidence.customer_name", "evidence.customer_purchase_ip", "evidence.shipping_address"], reason: request.residualRecords.find((r: any) => r.recordType === "dispute").reason },
    ]);
    expect(request.residualRecords.find((r: any) => r.recordType === "dispute").reason).to.match(/Stripe support/);
    expect(request.retentionExceptions.filter((k: any) => k.recordType === "dispute")).to.deep.equal([{ connector: "payments", recordType: "dispute", recordCount: 1 }]);
    // The plan foresaw that the old dispute would stay (its evidence cannot be changed), so the outcome
    // matches it: residual, not erased, and said before anyone approved.
    const reason = request.residualRecords.find((r: any) => r.recordType === "dispute").reason;
    expect(request.deletionPlan.find((l: any) => l.connector === "payments")).to.deep.equal({ connector: "payments", toLeaveResidual: 1, residualReason: reason });
    const line = request.deletionOutcome.find((l: any) => l.connector === "payments");
    expect(line, JSON.stringify(request.deletionOutcome)).to.deep.include({ residual: 1, plannedToLeaveResidual: 1, matchesPlan: true, plannedFound: collect.outcome.records, differences: [] });
    // A breach of the payment processor: the roster names her at her email (her deletion reported the old
    // dispute's evidence residual, wherever the processor still leads), on one line, with those records.
    const roster = await drawRoster(setup.t, ["payments"]);
    expect([roster.status, roster.complete]).to.deep.equal(["COMPLETED", true]);
    const hers = (await downloadRoster(setup.t, roster.id)).lines.filter((l) => l.emails.split("; ").includes(grace.email.toLowerCase()));
    expect(hers.map((l) => l.systems)).to.deep.equal(["payments"]);
    // Her next access request: the old dispute's charge is redacted, so the processor no longer leads to
    // it, but the export still tells her it holds her data, as the deletion reported.
    const again = await run(setup.t, "ACCESS", grace.email);
    expect(again.status, again.statusReason).to.equal("COMPLETED");
    const link = await exportLink(setup.t, again.id);
    const got = await download(link.url);
    const zip = ZipReader.open(got.file!);
    const manifest = JSON.parse(await zip.text("manifest.json")) as Manifest;
    const readme = await zip.text("README.txt");
    const html = await zip.text("index.html");
    zip.close();
    // The page the person opens says the same: what was kept, and what could not be erased.
    expect(html).to.contain('<h2 id="kept">Kept after an earlier deletion request').and.contain("payments dispute: 1 record(s), ");
    expect(html).to.contain('<h2 id="residue">Still holding your data after an earlier deletion request').and.contain("payments dispute: 1 record(s) still holding evidence.customer_email_address");
    const disputes = manifest.residualRecords.filter((r) => r.recordType === "dispute");
    expect(disputes).to.have.length(1);
    expect(disputes[0]).to.deep.include({ connector: "payments", category: "PAYMENTS", records: 1, deletionRequest: deletion.id, fields: ["evidence.customer_email_address", "evidence.customer_name", "evidence.customer_purchase_ip", "evidence.shipping_address"] });
    expect(readme).to.contain("payments dispute: 1 record(s) still holding evidence.customer_email_address, evidence.customer_name, evidence.customer_purchase_ip, evidence.shipping_address; a dispute's evidence cannot be changed");
    expect(JSON.stringify(manifest.residualRecords)).not.to.include(grace.email);
  });
});

/** An installation whose Stripe connector allows 10 customers per address, for a person with 26. */
describeEachDatabase("a subject with more Stripe customers than maxCustomersPerEmail", (db) => {
  const API_KEY = "sk_test_dsr_guest_checkouts";
  const grace = samplePeople(2)[1];
  let stripe: StripeStandIn;
  let capped: StripeConnector;
  let t: TestService;
  beforeEach(async () => {
    stripe = await startStripeStandIn({ apiKey: API_KEY, people: [grace] });
    capped = createStripeConnector({ apiKey: API_KEY, host: "127.0.0.1", port: stripe.port, protocol: "http", maxCustomersPerEmail: 10 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [capped]).start();
  });
  afterEach(async () => {
    await t?.stop();
    await stripe?.close();
  });

  it("fails the request and erases no customer, saying why on the task, rather than complete with some of them left", async () => {
    const guests = addGuestCheckouts(stripe, grace);
    const effects = stripe.store.effects.length;
    for (const type of ["ACCESS", "DELETION"]) {
      const request = await run(t, type, grace.email);
      expect(request.status, type).to.equal("FAILED");
      const failed = request.tasks.find((x: any) => x.connector === "payments" && x.status === "FAILED");
      expect(failed?.lastError, `${type}: ${JSON.stringify(request.tasks)}`).to.match(/more than 10 Stripe customers have the subject's address/);
    }
    expect(stripe.store.effects.length, "writes at the payment processor").to.equal(effects);
    expect(liveCustomersOf(stripe, grace.email)).to.deep.equal([grace.paymentCustomerId!, ...guests].sort());
  });
});
