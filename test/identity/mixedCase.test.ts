import { expect } from "chai";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason subject { email emailNormalized phone }
  tasks { connector step status note outcome { records erased identitiesFound } } } }`;
const ZOE = "zoe+dsr@example.com";

/**
 * Issue 13, point 2: Zoë's systems store her as she typed herself (`Zoe+dsr@Example.COM`, phone
 * `020 7946 0123`). Requests for her, however spelled, find her in every built-in connector of the
 * sample workspace: the account database (SQL), the auth log (by the user id found there), the payment
 * processor and the ticketing system (stand-ins behind the official clients' wire formats).
 */
describeEachDatabase("a subject stored in mixed case", (db) => {
  const setup = sampleSetup(db, SHOW);


  /** What each system holds about Zoë, found with the identities the account database gives for her stored address. */
  function heldByZoe(): Promise<Record<string, number>> {
    const zoe = setup.ws.people[2];
    return setup.heldBy({ email: ZOE, userId: zoe.userId, paymentCustomerId: zoe.paymentCustomerId, ticketingUserId: zoe.ticketingUserId });
  }

  it("finds her in every system, whether the request spells her address in lower, upper or her own case, and her phone in any form", async () => {
    const zoe = setup.ws.people[2];
    expect(zoe.email).to.equal("Zoe+dsr@Example.COM");
    const held = await heldByZoe();
    for (const [name, count] of Object.entries(held)) expect(count, `${name} holds records of Zoë`).to.be.greaterThan(0);
    for (const [email, phone] of [
      [ZOE, undefined],
      ["ZOE+DSR@EXAMPLE.COM", "+44 20 7946 0123"],
      ["Zoe+dsr@Example.COM", "+442079460123"],
    ] as const) {
      const r = await submit(setup.t, { type: "ACCESS", subject: { email, ...(phone ? { phone } : {}) }, identityVerified: true, verificationEvidence: "signed-in session" });
      await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      const done = await setup.finished(r.id);
      expect(done.status, done.statusReason).to.equal("COMPLETED");
      expect(done.subject).to.deep.equal({ email, emailNormalized: ZOE, phone: phone ? "+442079460123" : null });
      const collected = Object.fromEntries(done.tasks.filter((x: any) => x.step === "COLLECT").map((x: any) => [x.connector, x.outcome.records]));
      expect(collected, `records found for ${email}`).to.deep.equal(held);
      const resolve = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
      expect(resolve.outcome.identitiesFound).to.include.members(phone ? ["userId", "paymentCustomerId", "ticketingUserId"] : ["userId", "phone", "paymentCustomerId", "ticketingUserId"]);
    }
    // The phone the account database found for her (stored as 020 7946 0123) is handed on in E.164.
    const [found] = await setup.t.ds.query(`SELECT value FROM request_identities WHERE kind = 'phone' AND source = 'account-db'`);
    expect(found.value).to.equal("+442079460123");
  });

  it("erases her everywhere for a deletion spelled in lower case, and a hold on her own spelling applies", async () => {
    const hold = (
      await setup.t.ok(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id subjectEmail } }`, { input: { subjectEmail: "Zoe+dsr@Example.COM", categories: ["SUPPORT"], reason: "open dispute", caseReference: "CASE-ZOE" } }, Role.PRIVACY_OFFICER)
    ).placeLegalHold;
    expect(hold.subjectEmail).to.equal(ZOE);
    const before = await heldByZoe();
    const r = await submit(setup.t, { type: "DELETION", subject: { email: ZOE }, identityVerified: true, verificationEvidence: "signed-in session" });
    await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await setup.finished(r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const after = await heldByZoe();
    expect(after["account-db"], "her account").to.equal(0);
    expect(after.ticketing, "tickets are held").to.equal(before.ticketing);
    const { requests } = await setup.t.ok(`query($email: String!) { requests(first: 10, filter: { subjectEmail: $email }) { totalCount } }`, { email: "ZOE+dsr@example.COM" });
    expect(requests.totalCount).to.equal(1);
  });

  it("finds her at the payment processor by email without her customer id, with Stripe's case-insensitive search", async () => {
    const payments = setup.ws.connectors.find((c) => c.spec.name === "payments")!;
    // Her customer is tagged with her user id (accountMetadataKey): the account database gives it with her address.
    expect((await collectAll(payments, { email: ZOE, userId: setup.ws.people[2].userId })).length).to.be.greaterThan(0);
    expect((await collectAll(payments, { email: ZOE })).length, "tagged as an account's, and the subject's user id unknown").to.equal(0);
    const ticketing = setup.ws.connectors.find((c) => c.spec.name === "ticketing")!;
    // Her Zendesk user likewise (accountExternalId): found by address, it is hers only with her user id.
    expect((await collectAll(ticketing, { email: ZOE, userId: setup.ws.people[2].userId })).length).to.be.greaterThan(0);
    expect((await collectAll(ticketing, { email: ZOE })).length, "linked to an account, and the subject's user id unknown").to.equal(0);
    expect(await setup.ws.connectors[0].resolve!({ email: ZOE }, testContext())).to.include({ userId: setup.ws.people[2].userId, phone: "+442079460123" });
  });
});
