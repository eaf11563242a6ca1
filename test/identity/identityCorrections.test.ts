import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { SUBMIT, submitVerified } from "../support/harness";
import { accountsFile, approvedToEnd, queryIn, seedVera, smsLogSetup, VERA, veraHeld } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status outcome { records erased changed } } } }`;
const SETTINGS_DELETION = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
const VERIFY = `mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`;
/** Vera's mobile number: the SMS log holds her messages under it, and no account row does. */
const VERA_PHONE = "+447700900123";
const VERA_MESSAGES = 4;

/**
 * The emailed code proves the address a request is submitted under, nothing else. A correction that
 * writes a value some system finds people by (whatever the field is called in the request: the
 * connectors' configuration says which columns people are found by) decides whom the person's later
 * requests reach. Here the account database corrects `mobile` into users.phone, from which it provides
 * the phone an SMS log finds people by, and `contactEmail` into users.email, the column it finds
 * people by: neither field is called `email`.
 */
describeEachDatabase("a correction of an identity the person never proved", (db) => {
  const setup = smsLogSetup(
    db,
    { phone: VERA_PHONE, messages: VERA_MESSAGES, body: (i) => `Vera's message ${i}` },
    { rectifiable: { name: { table: "users", column: "name" }, mobile: { table: "users", column: "phone" }, contactEmail: { table: "users", column: "email" } } },
  );

  const veraMessages = async () => (await queryIn(setup.smsFile, `SELECT COUNT(*) AS n FROM sms_messages WHERE phone = ?`, [VERA_PHONE]))[0].n as number;
  const userRow = async (userId: string) => (await queryIn(accountsFile(setup.dir), `SELECT email, phone FROM users WHERE id = ?`, [userId]))[0] as { email: string; phone: string | null };
  /** Mallory: an active account with nothing at Stripe or Zendesk, so what her identities find there is someone else's. */
  const mallory = () => setup.ws.people.find((p) => p.status === "ACTIVE" && p.phone && !p.paymentCustomerId && !p.ticketingUserId)!;
  /** A correction submitted by a caller who does not vouch: the subject gets a code at her own address. */
  const unvouched = (email: string, corrections: { field: string; value: string }[]) => setup.t.gql(SUBMIT, { input: { type: "CORRECTION", subject: { email }, corrections } }, Role.ADMIN);
  /** Before the fix, such a correction was taken: Mallory answers the code she got and it is approved. */
  const runAnyway = async (submitted: Awaited<ReturnType<typeof unvouched>>) => {
    if (submitted.errors) return;
    const id = submitted.data!.submitRequest.id;
    await setup.t.ok(VERIFY, { id, code: setup.t.inbox.code(id) });
    await approvedToEnd(setup.t, SHOW, id);
  };
  const byConnector = (request: any, connector: string, step: string, count: "records" | "erased") =>
    request.tasks.filter((x: any) => x.connector === connector && x.step === step).reduce((n: number, x: any) => n + (x.outcome?.[count] ?? 0), 0);

  it("of `mobile` (written where the phone an SMS log finds people by comes from) is refused unvouched, so her later access and deletion never reach Vera's messages", async () => {
    const t = setup.t;
    const m = mallory();
    expect(await veraMessages()).to.equal(VERA_MESSAGES);
    const submitted = await unvouched(m.email, [{ field: "name", value: "Mallory Renamed" }, { field: "mobile", value: VERA_PHONE }]);
    await runAnyway(submitted);

    // Mallory's own access request, verified by the code at her own address.
    const access = await submitVerified(t, { type: "ACCESS", subject: { email: m.email } });
    const accessed = await approvedToEnd(t, SHOW, access.id);
    // Then her deletion, verified the same way.
    t.clock.advance(60_000);
    const deletion = await submitVerified(t, { type: "DELETION", subject: { email: m.email } });
    const deleted = await approvedToEnd(t, SHOW, deletion.id);

    const reached = { collected: byConnector(accessed, "sms-log", "COLLECT", "records"), erased: byConnector(deleted, "sms-log", "ERASE", "erased"), left: await veraMessages() };
    // Before: 4 of Vera's messages in Mallory's export, then all 4 deleted from the SMS log.
    expect(reached, "Vera's messages: in Mallory's export, erased by her deletion, left in the SMS log").to.deep.equal({ collected: 0, erased: 0, left: VERA_MESSAGES });
    expect(submitted.errors?.map((e) => [e.extensions.code, e.extensions.reason])).to.deep.equal([["BAD_USER_INPUT", "IDENTITY_CORRECTION_UNVOUCHED"]]);
    expect(submitted.errors![0].extensions.fields).to.deep.equal([
      {
        field: "corrections",
        messages: [
          "a correction of mobile is taken only with identityVerified: true, from a caller who checked that the new value is the subject's: people are found by it (account-db, sms-log), the code sent to the email proves that address alone, and every later request of the person would reach whoever holds the corrected value; submit the other changes without it, or have the privacy team vouch for it",
        ],
      },
    ]);
    expect(JSON.stringify(submitted.errors)).not.to.contain("7700900123");
  });

  it("of `contactEmail` (written into the column the account database finds people by) is refused unvouched, so her settings deletion never reaches Vera's Stripe customer and Zendesk user", async () => {
    const t = setup.t;
    const m = mallory();
    const vera = seedVera(setup.ws);
    const before = veraHeld(setup.ws, vera);
    const submitted = await unvouched(m.email, [{ field: "contactEmail", value: VERA }]);
    await runAnyway(submitted);

    // Her settings page sends the account's address, vouched for by her session.
    const address = (await userRow(m.userId)).email;
    const deletion = (await t.ok(SETTINGS_DELETION, { input: { idempotencyKey: "mallory-settings-1", subject: { email: address } } }, Role.SERVICE)).requestAccountDeletion;
    const ended = await t.waitFor(async () => {
      t.clock.advance(1000);
      const { request } = await t.ok(SHOW, { id: deletion.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "deletion ended", 60_000);
    // Before: the account row held Vera's address; the deletion found her customer and user, and deleted the user (active: false).
    expect({ held: veraHeld(setup.ws, vera), found: { payments: byConnector(ended, "payments", "COLLECT", "records"), ticketing: byConnector(ended, "ticketing", "COLLECT", "records") } }).to.deep.equal({
      held: before,
      found: { payments: 0, ticketing: 0 },
    });
    expect(address, "the account row keeps the address Mallory proved").to.equal(m.email);
    expect(submitted.errors?.map((e) => [e.extensions.code, e.extensions.reason])).to.deep.equal([["BAD_USER_INPUT", "IDENTITY_CORRECTION_UNVOUCHED"]]);
    expect(JSON.stringify(submitted.errors)).not.to.contain("vera");
  });

  it("is taken from a caller who vouches, refused at approval when stored verified by the code, and refused by name for a kind systems find people by", async () => {
    const t = setup.t;
    const m = mallory();
    const vouched = (await t.ok(SUBMIT, { input: { type: "CORRECTION", subject: { email: m.email }, corrections: [{ field: "mobile", value: "+447700900999" }], identityVerified: true, verificationEvidence: "code sent to the new number" } }))
      .submitRequest;
    expect((await approvedToEnd(t, SHOW, vouched.id)).status).to.equal("COMPLETED");
    expect((await userRow(m.userId)).phone).to.equal("+447700900999");

    // As one stored before this rule: its code proved Mallory's address, its change writes Vera's number.
    t.clock.advance(60_000);
    const name = (await unvouched(m.email, [{ field: "name", value: "Mallory Renamed" }])).data!.submitRequest;
    await t.ok(VERIFY, { id: name.id, code: t.inbox.code(name.id) });
    await t.ds.query(`UPDATE requests SET corrections = ? WHERE id = ?`, [JSON.stringify([{ field: "name", value: "Mallory Renamed" }, { field: "mobile", value: VERA_PHONE }]), name.id]);
    const approved = await t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id status } }`, { id: name.id });
    if (!approved.errors) await approvedToEnd(t, SHOW, name.id).catch(() => undefined);
    expect((await userRow(m.userId)).phone, "the account row keeps the number the caller vouched for").to.equal("+447700900999");
    expect(approved.errors?.map((e) => [e.extensions.code, e.extensions.reason, (e.extensions.fields as any)[0].field])).to.deep.equal([["BAD_USER_INPUT", "IDENTITY_CORRECTION_UNVOUCHED", "corrections"]]);
    expect((await t.ok(`query($id: ID!) { request(id: $id) { status tasks { id } } }`, { id: name.id })).request).to.deep.equal({ status: "PENDING_APPROVAL", tasks: [] });

    // A field named as a kind the connectors find people by (sms-log needs phone), in any spelling: refused, whoever writes it (a person, for a manual system).
    for (const field of ["Phone", "user_id"]) {
      const refused = await unvouched(m.email, [{ field, value: "x1" }]);
      expect(refused.errors?.map((e) => [e.extensions.code, e.extensions.reason]), field).to.deep.equal([["BAD_USER_INPUT", "IDENTITY_CORRECTION_UNVOUCHED"]]);
    }
  });
});
