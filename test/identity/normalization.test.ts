import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";

const ADA = "ada@example.com";
const HOLD = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id subjectEmail } }`;
const SUBMIT = `mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id duplicateOf subject { email emailNormalized phone } } }`;
const COUNT = `query($email: String!) { requests(first: 10, filter: { subjectEmail: $email }) { totalCount edges { node { id } } } }`;

/** Issue 13, point 2: one normalization for everything that compares identities, through GraphQL. */
describeEachDatabase("identity normalization", (db) => {
  let t: TestService;
  let tickets: ScriptedConnector;

  beforeEach(async () => {
    // The connector keys its records by the email it is given: it finds Ada only by the normalized form.
    tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seed(ADA, 2);
    t = await new TestService(db(), {}, [tickets]).start();
  });
  afterEach(async () => {
    await t?.stop();
  });

  it("applies a hold placed on Ada@Example.COM to a deletion preview for ada@example.com, and lists it under either spelling", async () => {
    const { placeLegalHold: hold } = await t.ok(HOLD, { input: { subjectEmail: "Ada@Example.COM", reason: "litigation", caseReference: "CASE-1" } }, Role.PRIVACY_OFFICER);
    expect(hold.subjectEmail).to.equal(ADA);
    const { previewDeletion } = await t.ok(`mutation($email: String!) { previewDeletion(input: { subject: { email: $email } }) { lines { connector found toKeep keptBy holdId } } }`, { email: "ADA@example.com" });
    expect(previewDeletion.lines).to.deep.equal([{ connector: "tickets", found: 2, toKeep: 2, keptBy: "HOLD", holdId: hold.id }]);
    for (const spelling of [ADA, "ADA@EXAMPLE.COM"]) {
      const { legalHolds } = await t.ok(`query($email: String) { legalHolds(subjectEmail: $email) { id } }`, { email: spelling }, Role.PRIVACY_OFFICER);
      expect(legalHolds.map((h: any) => h.id)).to.deep.equal([hold.id]);
    }
  });

  it("finds requests by subjectEmail in any case, links duplicates across spellings, and keeps the typed form for display", async () => {
    const first = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: "Ada@Example.com" } } })).submitRequest;
    const second = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: "ADA@EXAMPLE.COM" } } })).submitRequest;
    expect(first.subject).to.include({ email: "Ada@Example.com", emailNormalized: ADA });
    expect(second.duplicateOf).to.equal(first.id);
    const { requests } = await t.ok(COUNT, { email: "aDa@eXample.com" });
    expect(requests.totalCount).to.equal(2);
  });

  it("reads phone numbers in any international spelling into E.164, and refuses one without a country code, saying what is allowed", async () => {
    for (const phone of ["+44 20 7946 0958", "+44 (0)20 7946-0958", "+442079460958"]) {
      const { submitRequest } = await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: ADA, phone } } });
      expect(submitRequest.subject.phone, phone).to.equal("+442079460958");
    }
    const refused = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email: ADA, phone: "07946 123456" } } });
    expect(refused.errors?.[0].extensions.code).to.equal("BAD_USER_INPUT");
    expect(refused.errors?.[0].extensions.fields).to.deep.equal([
      { field: "subject.phone", messages: ['phone must be an international phone number: + and the country code, then the number, e.g. "+44 20 7946 0958"'] },
    ]);
    expect(JSON.stringify(refused)).not.to.contain("07946 123456");
  });

  it("refuses a phone number with an extension, saying so, rather than read it as the switchboard's bare number", async () => {
    // Before: "+44 20 7946 0958 ext. 12" was stored as +442079460958, so everyone behind the switchboard was one subject.
    for (const phone of ["+44 20 7946 0958 ext. 12", "+44 20 7946 0958 x12", "tel:+44-20-7946-0958;ext=12"]) {
      const refused = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email: ADA, phone } } });
      expect(refused.errors?.[0].extensions.code, phone).to.equal("BAD_USER_INPUT");
      expect(refused.errors?.[0].extensions.fields, phone).to.deep.equal([
        { field: "subject.phone", messages: ['phone must be an international phone number: + and the country code, then the number, e.g. "+44 20 7946 0958", without an extension (a number with one is a switchboard\'s, shared by everyone behind it)'] },
      ]);
    }
  });

  it("takes a pasted address with spaces around it without them (submission, holds, filters, previews), a user id with them exactly as typed, and still refuses either with a space inside", async () => {
    const pasted = (await t.ok(SUBMIT.replace("phone }", "phone userId }"), { input: { type: "ACCESS", subject: { email: "  Ada@Example.com ", userId: " ada-42 " } } })).submitRequest;
    // The address shown, mailed and matched without the spaces; the user id kept as typed (systems hold ` ada-42 ` and `ada-42` as two users).
    expect(pasted.subject).to.include({ email: "Ada@Example.com", emailNormalized: ADA, userId: " ada-42 " });
    const duplicate = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: ADA } } })).submitRequest;
    expect(duplicate.duplicateOf).to.equal(pasted.id);
    expect((await t.ok(COUNT, { email: " ada@example.com" })).requests.totalCount).to.equal(2);
    const hold = (await t.ok(HOLD, { input: { subjectEmail: "ADA@example.com  ", reason: "litigation", caseReference: "CASE-3" } }, Role.PRIVACY_OFFICER)).placeLegalHold;
    expect(hold.subjectEmail).to.equal(ADA);
    const { previewDeletion } = await t.ok(`mutation($email: String!) { previewDeletion(input: { subject: { email: $email } }) { lines { connector found toKeep keptBy holdId } } }`, { email: " ada@example.com\u00a0" });
    expect(previewDeletion.lines).to.deep.equal([{ connector: "tickets", found: 2, toKeep: 2, keptBy: "HOLD", holdId: hold.id }]);
    // A space inside is no address: refused, nothing echoed, nothing stored.
    for (const email of ["ada @example.com", "ada@exa mple.com", " "]) {
      const refused = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email } } });
      expect(refused.errors?.[0].extensions.code, email).to.equal("BAD_USER_INPUT");
      expect((refused.errors?.[0].extensions.fields as Array<{ field: string }> | undefined)?.map((f) => f.field), email).to.deep.equal(["subject.email"]);
      if (email.trim()) expect(JSON.stringify(refused)).not.to.contain(email);
    }
    for (const userId of ["ada 42", "  ", "ada-42\u00a0"]) {
      const refused = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email: ADA, userId } } });
      expect((refused.errors?.[0].extensions.fields as Array<{ field: string }> | undefined)?.map((f) => f.field), userId).to.deep.equal(["subject.userId"]);
    }
    expect((await t.ok(COUNT, { email: ADA })).requests.totalCount).to.equal(2);
  });

  it("keeps addresses in other scripts valid, compares them in NFC, and never makes josé@ and jose@ one person", async () => {
    const chinese = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: "用户@例子.公司" } } })).submitRequest;
    expect(chinese.subject).to.include({ email: "用户@例子.公司", emailNormalized: "用户@例子.公司" });
    // Typed with a combining accent (NFD): the same person as the precomposed é.
    const decomposed = (await t.ok(SUBMIT, { input: { type: "ACCESS", subject: { email: "Jose\u0301@Exämple.de" } } })).submitRequest;
    expect(decomposed.subject.emailNormalized).to.equal("jos\u00e9@exämple.de");
    expect((await t.ok(COUNT, { email: "JOS\u00c9@EXÄMPLE.DE" })).requests.totalCount).to.equal(1);
    // MariaDB's default collations ignore accents; the service's matching columns do not.
    expect((await t.ok(COUNT, { email: "jose@exämple.de" })).requests.totalCount).to.equal(0);
    const hold = (await t.ok(HOLD, { input: { subjectEmail: "jose@exämple.de", reason: "another person", caseReference: "CASE-2" } }, Role.PRIVACY_OFFICER)).placeLegalHold;
    const { legalHolds } = await t.ok(`query($email: String) { legalHolds(subjectEmail: $email) { id } }`, { email: "josé@exämple.de" }, Role.PRIVACY_OFFICER);
    expect(legalHolds.map((h: any) => h.id)).not.to.include(hold.id);
  });
});
