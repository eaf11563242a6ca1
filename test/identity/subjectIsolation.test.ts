import { expect } from "chai";
import { testContext } from "../../src/connectors/testing/conformance";
import { Role } from "../../src/domain/enums";
import { normalizeEmail } from "../../src/domain/identities";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { sampleSetup } from "./support";
import { exportedManifest } from "../export/support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason subject { email emailNormalized externalIds { system id } }
  tasks { connector step status note outcome { records erased kept identitiesFound } } retentionExceptions { connector category recordCount holdId } } }`;
const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id status } }`;
const HOLD = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id subjectEmail } }`;
const ADA = "ada.lovelace@example.com";

/**
 * Issue 13, point 1: an external id named like an identity kind once stood in for the subject's email
 * (and phone), so a request about one person collected or erased another's data. Checked against the
 * systems themselves: what each sample system still holds, and what the export carries.
 */
describeEachDatabase("a request acts on exactly its subject", (db) => {
  const setup = sampleSetup(db, SHOW, 200);

  /** Everything each system holds about a person, found through the connectors with every identity the account database knows. */
  async function heldBy(email: string): Promise<Record<string, number>> {
    return setup.heldBy({ email, ...(await setup.ws.connectors[0].resolve!({ email }, testContext())) });
  }
  const victimAsExternalIds = () => [
    { system: "email", id: ADA },
    { system: "phone", id: setup.ws.people[0].phone! },
    { system: "userid", id: setup.ws.people[0].userId },
  ];

  it("collects nothing of the victim for an ACCESS whose externalIds name the victim's email (submitRequest)", async () => {
    const adaBefore = await heldBy(ADA);
    expect(Object.values(adaBefore).every((n) => n > 0), "Ada has data in every system").to.equal(true);
    const r = await submit(setup.t, {
      type: "ACCESS",
      subject: { email: "mallory.attacker@example.org", externalIds: victimAsExternalIds() },
      identityVerified: true,
      verificationEvidence: "signed-in session",
    });
    await setup.t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await setup.finished(r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.subject.externalIds).to.deep.equal(victimAsExternalIds());
    for (const task of done.tasks.filter((x: any) => x.step === "COLLECT")) expect(task.outcome?.records ?? 0, task.connector).to.equal(0);
    const manifest = await exportedManifest(setup.t, r.id);
    const exported = manifest.files.reduce((n: number, f: { records: number }) => n + f.records, 0);
    expect(exported, "records in the attacker's export").to.equal(0);
    expect(await heldBy(ADA)).to.deep.equal(adaBefore);
    // What the connectors were given: the attacker's email, the external ids in their own namespace.
    const identities = await setup.t.ds.query(`SELECT kind, value FROM request_identities WHERE requestId = ? ORDER BY kind`, [r.id]);
    expect(identities.map((i: any) => `${i.kind}=${i.value}`)).to.deep.equal([
      "email=mallory.attacker@example.org",
      `external:email=${ADA}`,
      `external:phone=${setup.ws.people[0].phone}`,
      `external:userid=${setup.ws.people[0].userId}`,
    ]);
  });

  it("erases nothing of the victim through requestAccountDeletion (SERVICE), and the holds on the real subject apply", async () => {
    // An attacker with an account, auth log, payments and tickets of their own.
    const attacker = setup.ws.people.find((p) => p.index > 2 && p.paymentCustomerId && p.ticketingUserId && p.status === "ACTIVE")!;
    const adaBefore = await heldBy(ADA);
    const attackerBefore = await heldBy(attacker.email);
    expect(attackerBefore["account-db"]).to.be.greaterThan(0);
    // The hold is placed on another spelling of the attacker's address: it is the same person.
    const hold = (await setup.t.ok(HOLD, { input: { subjectEmail: attacker.email.toUpperCase(), categories: ["ACCOUNT"], reason: "fraud investigation", caseReference: "CASE-13" } }, Role.PRIVACY_OFFICER))
      .placeLegalHold;
    expect(hold.subjectEmail).to.equal(normalizeEmail(attacker.email));
    const { requestAccountDeletion: r } = await setup.t.ok(DELETE, { input: { idempotencyKey: "settings-attack-0001", subject: { email: attacker.email, externalIds: victimAsExternalIds() } } }, Role.SERVICE);
    const done = await setup.finished(r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await heldBy(ADA), "Ada's data, in every system").to.deep.equal(adaBefore);
    // The attacker's account data is held, and stays; the rest of what they hold was erased or kept by a rule.
    const attackerAfter = await heldBy(attacker.email);
    expect(attackerAfter["account-db"]).to.equal(attackerBefore["account-db"]);
    const account = done.retentionExceptions.filter((e: any) => e.category === "ACCOUNT");
    expect(account.map((e: any) => e.holdId)).to.include(hold.id);
    expect(done.tasks.find((x: any) => x.connector === "auth-log" && x.step === "ERASE").outcome.erased).to.be.greaterThan(0);
  });

  it("refuses, before anything runs, a subject whose identities conflict (one system twice), naming the field", async () => {
    for (const [query, variables, as] of [
      [
        `mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`,
        { input: { type: "DELETION", subject: { email: "mallory@example.org", externalIds: [{ system: "crm", id: "1" }, { system: "crm", id: "2" }] }, identityVerified: true, verificationEvidence: "signed-in session" } },
        Role.ADMIN,
      ],
      [DELETE, { input: { idempotencyKey: "settings-conflict-01", subject: { email: "mallory@example.org", externalIds: [{ system: "crm", id: "1" }, { system: "crm", id: "2" }] } } }, Role.SERVICE],
    ] as const) {
      const result = await setup.t.gql(query, variables, as);
      expect(result.errors?.[0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(result.errors?.[0].extensions.fields?.map((f) => f.field)).to.deep.equal(["subject.externalIds"]);
      expect(JSON.stringify(result.errors)).not.to.contain("mallory");
    }
    expect(await setup.t.count("requests")).to.equal(0);
    expect(await setup.t.count("tasks")).to.equal(0);
  });
});
