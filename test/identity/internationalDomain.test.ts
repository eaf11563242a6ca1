import { expect } from "chai";
import { emailSpellings, normalizeEmail } from "../../src/domain/identities";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason duplicateOf subject { email emailNormalized emailSpellings }
  tasks { connector step status outcome { records erased } } } }`;
const HOLD = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id subjectEmail } }`;
const COUNT = `query($email: String!) { requests(first: 10, filter: { subjectEmail: $email }) { totalCount } }`;
/** Björn's address in matching form: his domain in IDNA's Unicode spelling. */
const BJORN = "bjorn@bücher.de";

describe("email matching form: internationalised domains", () => {
  it("gives one form for every spelling of a domain (Unicode, ASCII, any case, full-width) and lists both spellings to look up", () => {
    for (const typed of ["bjorn@bücher.de", "Bjorn@Bücher.DE", "bjorn@xn--bcher-kva.de", "BJORN@XN--BCHER-KVA.DE", " bjorn@bu\u0308cher.de "]) {
      expect(normalizeEmail(typed), typed).to.equal(BJORN);
    }
    expect(emailSpellings("BJORN@XN--BCHER-KVA.DE")).to.deep.equal([BJORN, "bjorn@xn--bcher-kva.de"]);
    expect(normalizeEmail("ada@ｅｘａｍｐｌｅ.com")).to.equal("ada@example.com");
    expect(normalizeEmail("用户@例子。公司")).to.equal("用户@例子.公司");
    expect(emailSpellings("ada@example.com")).to.deep.equal(["ada@example.com"]);
    // The local part is never IDNA: another local part is another person.
    expect(normalizeEmail("björn@bücher.de")).not.to.equal(BJORN);
    // A domain IDNA cannot read (only in rows older than the check) is kept lower-cased, and matches itself.
    expect(normalizeEmail("ada@XN--ZZ.de")).to.equal("ada@xn--zz.de");
  });
});

/**
 * Björn's systems (the sample workspace: account database, auth log, payment processor, ticketing)
 * stored his address with the domain in ASCII, `bjorn@xn--bcher-kva.de`. A request typed as he would
 * type it, `Bjorn@Bücher.de`, is the same mailbox: it finds him everywhere, is a duplicate of a request
 * made with the ASCII spelling, and a hold placed under either spelling keeps his data.
 */
describeEachDatabase("a subject whose domain is internationalised", (db) => {
  const setup = sampleSetup(db, SHOW);


  /** What each system holds about Björn, asked with the identities exactly as his systems store them. */
  function heldByBjorn(): Promise<Record<string, number>> {
    const bjorn = setup.ws.people[3];
    return setup.heldBy({ email: bjorn.email, userId: bjorn.userId, paymentCustomerId: bjorn.paymentCustomerId!, ticketingUserId: bjorn.ticketingUserId! });
  }

  it("finds him in every system for either spelling, and links the two requests as one person's", async () => {
    expect(setup.ws.people[3].email).to.equal("bjorn@xn--bcher-kva.de");
    const held = await heldByBjorn();
    for (const [name, count] of Object.entries(held)) expect(count, `${name} holds records of Björn`).to.be.greaterThan(0);
    const typed = await submit(setup.t, { type: "ACCESS", subject: { email: "Bjorn@Bücher.de" }, identityVerified: true, verificationEvidence: "signed-in session" });
    const ascii = await submit(setup.t, { type: "ACCESS", subject: { email: "BJORN@XN--BCHER-KVA.DE" }, identityVerified: true, verificationEvidence: "signed-in session" });
    for (const email of ["bjorn@xn--bcher-kva.de", BJORN, "Bjorn@BÜCHER.de"]) expect((await setup.t.ok(COUNT, { email })).requests.totalCount, email).to.equal(2);
    await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: typed.id });
    // The request in ASCII spelling is a duplicate of the first, and ends with it.
    const { approveRequest } = await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id duplicateOf } }`, { id: ascii.id });
    expect(approveRequest.duplicateOf).to.equal(typed.id);
    const done = await setup.finished(typed.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.subject).to.deep.equal({ email: "Bjorn@Bücher.de", emailNormalized: BJORN, emailSpellings: [BJORN, "bjorn@xn--bcher-kva.de"] });
    const collected = Object.fromEntries(done.tasks.filter((x: any) => x.step === "COLLECT").map((x: any) => [x.connector, x.outcome.records]));
    expect(collected).to.deep.equal(held);
    expect((await setup.finished(ascii.id)).status).to.equal("COMPLETED");
  });

  it("erases him everywhere for a deletion typed in Unicode, except what a hold placed under the ASCII spelling keeps", async () => {
    const { placeLegalHold: hold } = await setup.t.ok(HOLD, { input: { subjectEmail: "Bjorn@XN--Bcher-kva.de", categories: ["SUPPORT"], reason: "open dispute", caseReference: "CASE-BJ" } }, Role.PRIVACY_OFFICER);
    expect(hold.subjectEmail).to.equal(BJORN);
    const { legalHolds } = await setup.t.ok(`query($email: String) { legalHolds(subjectEmail: $email) { id } }`, { email: "bjorn@bücher.de" }, Role.PRIVACY_OFFICER);
    expect(legalHolds.map((h: any) => h.id)).to.deep.equal([hold.id]);
    const before = await heldByBjorn();
    const r = await submit(setup.t, { type: "DELETION", subject: { email: "bjorn@bücher.de" }, identityVerified: true, verificationEvidence: "signed-in session" });
    await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await setup.finished(r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const after = await heldByBjorn();
    expect(after["account-db"], "his account is erased").to.equal(0);
    expect(after.ticketing, "his tickets are held").to.equal(before.ticketing);
    expect(before.ticketing).to.be.greaterThan(0);
  });
});
