import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { accountsFile, approvedToEnd, queryIn, smsLogSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status lastError outcome { records erased } } } }`;
const SETTINGS_DELETION = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
/** A household's landline: Ada's and Hedy's account rows both hold it. */
const HOUSEHOLD = "+441632960001";
/** The codes the SMS log sent to that line for Hedy's sign-ins. */
const HEDY_MESSAGES = 3;

/**
 * The account database provides the phone an SMS log finds people by. A phone two accounts hold (a
 * household's line) is followed for neither person: what the SMS log holds under it cannot be told
 * apart as one person's. That held when the account database derived the phone, but a phone the
 * request itself gave (the settings page's deletion sends the account's phone along; a privacy officer
 * may type it in) reached the SMS log unchanged: Ada's deletion erased the codes sent for Hedy's
 * sign-ins, and her access exported them. Checked against the SMS log's own table.
 */
describeEachDatabase("a phone the request gives that another account holds too", (db) => {
  const setup = smsLogSetup(
    db,
    { phone: HOUSEHOLD, messages: HEDY_MESSAGES, body: (i) => `Hedy's sign-in code ${i}` },
    {
      // Ada and Hedy live together: both accounts list the household's line.
      arrange: async (s) => {
        for (const p of [s.ws.people[0], hedy_()]) await queryIn(accountsFile(s.dir), `UPDATE users SET phone = ? WHERE id = ?`, [HOUSEHOLD, p.userId]);
      },
    },
  );

  /** Hedy: another active account of the workspace. */
  function hedy_() {
    return setup.ws.people.find((p) => p.index > 0 && p.status === "ACTIVE")!;
  }
  const smsHeld = async () => (await queryIn(setup.smsFile, `SELECT COUNT(*) AS n FROM sms_messages WHERE phone = ?`, [HOUSEHOLD]))[0].n as number;
  const finished = (id: string) =>
    setup.t.waitFor(
      async () => {
        setup.t.clock.advance(1000);
        const { request } = await setup.t.ok(SHOW, { id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request finished",
      60_000,
    );
  const sms = (request: any, step: string) => request.tasks.find((x: any) => x.connector === "sms-log" && x.step === step);

  it("erases none of Hedy's messages for Ada's settings deletion that gives the line, failing at the identity source, naming no number", async () => {
    const ada = setup.ws.people[0];
    const { requestAccountDeletion: r } = await setup.t.ok(SETTINGS_DELETION, { input: { idempotencyKey: "settings-household-0001", subject: { email: ada.email, userId: ada.userId, phone: HOUSEHOLD } } }, Role.SERVICE);
    const done = await finished(r.id);
    // Before: COMPLETED, the SMS log's ERASE deleting all 3 of the codes sent for Hedy.
    expect(await smsHeld(), "messages under the household's line in the SMS log").to.equal(HEDY_MESSAGES);
    expect(done.status, done.statusReason).to.equal("FAILED");
    const resolve = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
    expect(resolve.status).to.equal("FAILED");
    expect(resolve.lastError).to.match(/phone the request gives is held by another person's account here too/);
    expect(JSON.stringify(done)).not.to.include("1632").and.not.to.include(hedy_().userId);
    expect(sms(done, "ERASE")?.outcome?.erased ?? 0).to.equal(0);
  });

  it("exports none of Hedy's messages for Ada's access that gives the line", async () => {
    const ada = setup.ws.people[0];
    const r = await submit(setup.t, { type: "ACCESS", subject: { email: ada.email, phone: HOUSEHOLD }, identityVerified: true, verificationEvidence: "signed-in session" });
    const done = await approvedToEnd(setup.t, SHOW, r.id);
    // Before: COMPLETED, the SMS log's COLLECT exporting Hedy's 3 codes to Ada.
    expect(sms(done, "COLLECT")?.outcome?.records ?? 0, "SMS records collected").to.equal(0);
    expect(done.status).to.equal("FAILED");
  });

  it("still deletes Ada's account without the line, leaving the household's messages (followed for neither)", async () => {
    const ada = setup.ws.people[0];
    const { requestAccountDeletion: r } = await setup.t.ok(SETTINGS_DELETION, { input: { idempotencyKey: "settings-household-0002", subject: { email: ada.email, userId: ada.userId } } }, Role.SERVICE);
    const done = await finished(r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await smsHeld()).to.equal(HEDY_MESSAGES);
  });
});
