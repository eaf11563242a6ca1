import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submitVerified } from "../support/harness";
import { ADA } from "../connectors/support/accountDb";
import { accountDbService, AccountDbService } from "../connectors/support/accountDbService";
import { approvedToEnd } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status outcome { records } } } }`;

/**
 * The account database's invoices are found by the billing system's own id (`external:billing`),
 * given in `subject.externalIds`. Nothing confirms such an id: the code a request is verified with
 * proves the email alone. Mallory, who holds no account, verified her own address and named Ada's
 * billing id beside it.
 */
describeEachDatabase("an external id given with a request verified only by the code sent to its email", (db) => {
  let service: AccountDbService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });
  const invoicesOfAda = () => service!.account.rows(`SELECT id, customer_ref, billing_name, billing_address FROM invoices WHERE customer_ref = ? ORDER BY id`, [ADA.paymentCustomerId]);

  it("is refused before anything is stored, so none of Ada's invoices is read; a caller that vouched for it still reaches them", async () => {
    service = await accountDbService(db(), (config) => {
      const invoices = config.tables.find((t) => t.table === "invoices")!;
      invoices.identityKind = "external:billing";
      config.provides = config.provides!.filter((p) => p.kind !== "paymentCustomerId");
    });
    const before = await invoicesOfAda();
    expect(before).to.have.length(3);
    const subject = { email: "mallory@example.org", externalIds: [{ system: "billing", id: ADA.paymentCustomerId }] };

    const refused = await service.t.gql(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, { input: { type: "ACCESS", subject } });
    expect(refused.errors?.[0].extensions.code).to.equal("BAD_USER_INPUT");
    expect((refused.errors?.[0].extensions.fields as { field: string }[]).map((f) => f.field)).to.deep.equal(["subject.externalIds"]);
    expect(JSON.stringify(refused)).not.to.include(ADA.paymentCustomerId!);
    expect(Number((await service.t.ds.query(`SELECT COUNT(*) AS n FROM requests`))[0].n), "no request stored").to.equal(0);
    expect(await invoicesOfAda()).to.deep.equal(before);

    // Her own address verified by its code still serves her, without the id.
    const own = await submitVerified(service.t, { type: "ACCESS", subject: { email: "mallory@example.org" } });
    const done = await approvedToEnd(service.t, SHOW, own.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(0);

    // A privacy officer who checked the id vouches for it (identityVerified): it is followed.
    const vouched = await service.run({ type: "ACCESS", subject: { email: ADA.email, externalIds: [{ system: "billing", id: ADA.paymentCustomerId }] } }, SHOW);
    expect(vouched.status, vouched.statusReason).to.equal("COMPLETED");
    expect(vouched.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.be.greaterThanOrEqual(3);
  });
  it("follows a vouched external id exactly as typed: the billing id of another account that ends in a space is not Ada's", async () => {
    service = await accountDbService(db(), (config) => {
      const invoices = config.tables.find((t) => t.table === "invoices")!;
      invoices.identityKind = "external:billing";
      config.provides = config.provides!.filter((p) => p.kind !== "paymentCustomerId");
    });
    // Another account's billing id is Ada's with a trailing space: the billing system tells them apart.
    const theirs = `${ADA.paymentCustomerId} `;
    await service.account.rows(`INSERT INTO invoices (id, customer_ref, billing_name, billing_address, amount_cents, issued_at) VALUES (?, ?, ?, ?, ?, ?)`, [
      "inv_theirs_1",
      theirs,
      "Someone Else",
      "1 Elsewhere Road",
      500,
      service.account.date(new Date("2026-01-05T00:00:00Z")),
    ]);
    const blank = await service.t.gql(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, {
      input: { type: "ACCESS", subject: { email: "someone.else@example.org", externalIds: [{ system: "billing", id: "   " }] }, identityVerified: true, verificationEvidence: "checked" },
    });
    expect(blank.errors?.[0].extensions.code).to.equal("BAD_USER_INPUT");
    expect((blank.errors?.[0].extensions.fields as { field: string; messages: string[] }[]).map((f) => [f.field, f.messages.join()])).to.deep.equal([["subject.externalIds", "an external id must hold more than spaces"]]);
    const ofAda = (await invoicesOfAda()).length;
    expect(ofAda).to.equal(3);
    const ACCESS = `query($id: ID!) { request(id: $id) { status statusReason subject { externalIds { system id } } tasks { connector step status outcome { records } } } }`;
    const done = await service.run({ type: "ACCESS", subject: { email: "someone.else@example.org", externalIds: [{ system: "billing", id: theirs }] } }, ACCESS);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // Their one invoice, none of Ada's 3 (trimmed, the id was Ada's: her 3 invoices went into a stranger's export).
    expect(done.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(1);
    expect(done.subject.externalIds).to.deep.equal([{ system: "billing", id: theirs }]);
  });
});
