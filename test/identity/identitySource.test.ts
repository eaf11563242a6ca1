import path from "node:path";
import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { accountsFile, queryIn, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { records } } } }`;
const WRONG_ID = /^account-db: the userId the request gives is not the subject's here \((their users row holds another userId|another person's users row holds it), found by their email\)/;
const SHARED = /^account-db: the subject's (paymentCustomerId|ticketingUserId) here is not theirs alone \(another person's users row holds it, found by their email\)/;

const countIn = async (file: string, sql: string, params: unknown[]) => Number((await queryIn(file, sql, params))[0].n);

/**
 * A request names its subject by email and may add a user id. The account database is where both are
 * tied together, and where the ids other systems find the person by (payment customer, ticketing user)
 * come from; the auth log, the account database's own tables by user id, Stripe and Zendesk are found
 * by those ids alone. An id that is not the subject's alone by the account database (a user id that is
 * someone else's or a typo, a customer id two accounts hold) must not reach the other person's records,
 * nor stand in for the subject's own.
 */
describeEachDatabase("ids the account database ties to the subject's email, when they are not the subject's alone", (db) => {
  const setup = sampleSetup(db, SHOW);
  const files = () => ({ accounts: accountsFile(setup.dir), authLog: path.join(setup.dir, "sample", "auth-log.sqlite") });

  /** What the account database and the auth log themselves hold for a user id: rows by user id, and auth events. */
  async function heldFor(userId: string): Promise<{ byUserId: number; authEvents: number }> {
    const { accounts, authLog } = files();
    const byUserId = await countIn(accounts, `SELECT (SELECT COUNT(*) FROM mfa_factors WHERE user_id = ?) + (SELECT COUNT(*) FROM auth_preferences WHERE user_id = ?) + (SELECT COUNT(*) FROM devices WHERE user_id = ?) AS n`, [userId, userId, userId]);
    const authEvents = await countIn(authLog, `SELECT COUNT(*) AS n FROM auth_events WHERE user_id = ?`, [userId]);
    return { byUserId, authEvents };
  }

  const run = (type: string, subject: Record<string, string>) => runVerified(setup.t, SHOW, type, subject);

  it("fails an access for Ada's email with Grace's user id, or one nobody has, before any system is read by it, and still serves Ada's own id", async () => {
    const [ada, grace] = setup.ws.people;
    const adaHolds = await heldFor(ada.userId);
    expect(adaHolds.authEvents).to.be.greaterThan(0);
    expect((await heldFor(grace.userId)).authEvents).to.be.greaterThan(0);
    // Her own id pasted with spaces around it is another id (user ids are compared exactly as typed): refused the same way.
    for (const userId of [grace.userId, "usr_09999", ` ${ada.userId} `]) {
      const done = await run("ACCESS", { email: ada.email, userId });
      expect(done.status, userId).to.equal("FAILED");
      const resolve = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
      expect(resolve.status).to.equal("FAILED");
      expect(resolve.lastError).to.match(WRONG_ID);
      expect(resolve.lastError, "the message carries no identity").not.to.include(userId.trim()).and.not.to.include(ada.email);
      for (const task of done.tasks.filter((x: any) => x.step === "COLLECT" && x.connector !== "account-db")) {
        expect(task.status, `${task.connector} never ran with the user id given`).to.be.oneOf(["PENDING", "SKIPPED"]);
        expect(task.outcome?.records ?? null).to.equal(null);
      }
    }
    // Her own user id is confirmed and reaches exactly her records.
    const done = await run("ACCESS", { email: ada.email, userId: ada.userId });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const collected = Object.fromEntries(done.tasks.filter((x: any) => x.step === "COLLECT").map((x: any) => [x.connector, x.outcome.records]));
    expect(collected["auth-log"]).to.equal(adaHolds.authEvents);
    expect(collected["account-db"]).to.equal(1 + adaHolds.byUserId);
  });

  it("erases nothing, of Grace or of Ada, for a deletion naming Ada by email and Grace by user id, and its preview counts none of Grace's records", async () => {
    const [ada, grace] = setup.ws.people;
    const before = { ada: await heldFor(ada.userId), grace: await heldFor(grace.userId) };
    expect(before.grace.byUserId).to.be.greaterThan(0);
    const done = await run("DELETION", { email: ada.email, userId: grace.userId });
    expect(done.status).to.equal("FAILED");
    expect(done.tasks.filter((x: any) => x.connector === "account-db" && x.status === "FAILED").map((x: any) => x.lastError)).to.satisfy((errors: string[]) => errors.length > 0 && errors.every((e) => WRONG_ID.test(e)));
    expect(done.tasks.filter((x: any) => x.step === "ERASE" && x.status === "SUCCEEDED")).to.deep.equal([]);
    expect({ ada: await heldFor(ada.userId), grace: await heldFor(grace.userId) }).to.deep.equal(before);
    // Nor does its preview count Grace's records as Ada's.
    const { previewDeletion } = await setup.t.ok(`mutation($subject: SubjectInput!) { previewDeletion(input: { subject: $subject }) { lines { connector found } notSurveyed { connector reason } } }`, {
      subject: { email: ada.email, userId: grace.userId },
    });
    expect(previewDeletion.lines.filter((l: any) => ["account-db", "auth-log"].includes(l.connector))).to.deep.equal([]);
    const reasons = Object.fromEntries(previewDeletion.notSurveyed.map((n: any) => [n.connector, n.reason]));
    expect(reasons["account-db"]).to.match(WRONG_ID);
    expect(reasons["auth-log"]).to.equal("needs userId, which account-db could not confirm for this subject");
    expect(await countIn(files().accounts, `SELECT COUNT(*) AS n FROM users WHERE id IN (?, ?)`, [ada.userId, grace.userId])).to.equal(2);
  });

  it("fails an access and a deletion for Hedy, whose account row holds Ada's payment customer and ticketing user too, and reads or erases nothing of Ada's", async () => {
    const [ada, , , , , hedy] = setup.ws.people;
    await queryIn(files().accounts, `UPDATE users SET payment_customer_id = ?, ticketing_user_id = ? WHERE id = ?`, [ada.paymentCustomerId, ada.ticketingUserId, hedy.userId]);
    /** Ada as the payment processor and the ticketing system themselves hold her. */
    const adaAtVendors = () =>
      JSON.stringify({
        customer: setup.ws.stripe.store.get("customer", ada.paymentCustomerId!),
        charges: setup.ws.stripe.store.all("charge").filter((c) => c.customer === ada.paymentCustomerId),
        user: setup.ws.zendesk.store.user(Number(ada.ticketingUserId)),
        tickets: setup.ws.zendesk.store.ticketsRequestedBy(Number(ada.ticketingUserId)),
      });
    const before = adaAtVendors();
    expect(JSON.parse(before).charges).to.not.deep.equal([]);
    for (const type of ["ACCESS", "DELETION"]) {
      const done = await run(type, { email: hedy.email });
      expect(done.status, type).to.equal("FAILED");
      const failed = done.tasks.filter((x: any) => x.connector === "account-db" && x.status === "FAILED");
      expect(failed.map((x: any) => x.lastError)).to.satisfy((errors: string[]) => errors.length > 0 && errors.every((e) => SHARED.test(e)));
      for (const task of done.tasks.filter((x: any) => ["payments", "ticketing"].includes(x.connector))) {
        expect(task.status, `${type}: ${task.connector} ${task.step} never ran with the shared ids`).to.be.oneOf(["PENDING", "SKIPPED"]);
      }
    }
    expect(adaAtVendors()).to.equal(before);
    // Ada herself holds them alone no more either: her requests stop the same way, until someone sorts the rows out.
    expect((await run("ACCESS", { email: ada.email })).status).to.equal("FAILED");
    await queryIn(files().accounts, `UPDATE users SET payment_customer_id = NULL, ticketing_user_id = NULL WHERE id = ?`, [hedy.userId]);
    expect((await run("ACCESS", { email: ada.email })).status).to.equal("COMPLETED");
  });
});
