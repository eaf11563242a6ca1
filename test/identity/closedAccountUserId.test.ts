import path from "node:path";
import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submitVerified } from "../support/harness";
import { GRACE } from "../connectors/support/accountDb";
import { accountDbService, AccountDbService } from "../connectors/support/accountDbService";
import { accountsFile, approvedToEnd, queryIn, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason export { id } tasks { connector step status lastError outcome { records } } } }`;
const UNCONFIRMED = /^account-db: the userId the request gives is not the subject's here \(no users row of theirs holds one, found by their email\)/;

/**
 * A user id is tied to a person by the account database alone. Once Grace's account row is gone (her
 * deletion erased it, and kept her recent auth events under the 90-day rule), nothing ties her user id
 * to her address any more: Mallory, who verified her own address by its code and holds no account,
 * must not reach Grace's kept auth log by naming Grace's user id, nor erase it.
 */
describeEachDatabase("a user id given for an address the account database holds no row for", (db) => {
  const setup = sampleSetup(db, SHOW);
  const authLog = () => path.join(setup.dir, "sample", "auth-log.sqlite");
  const authEvents = async (userId: string) => Number((await queryIn(authLog(), `SELECT COUNT(*) AS n FROM auth_events WHERE user_id = ?`, [userId]))[0].n);

  /** Submits for Mallory, verifies with the code sent to her own address, approves, and waits for the end. */
  async function asMallory(type: string, userId: string, concernsMinor = false): Promise<any> {
    const r = await submitVerified(setup.t, { type, subject: { email: "mallory@example.org", userId }, ...(concernsMinor ? { concernsMinor } : {}) });
    return approvedToEnd(setup.t, SHOW, r.id);
  }

  it("fails Mallory's access and deletion naming Grace's user id after Grace's account was deleted, reading and erasing none of her kept auth events", async () => {
    const grace = setup.ws.people[1];
    const deleted = await runVerified(setup.t, SHOW, "DELETION", grace.email);
    expect(deleted.status, deleted.statusReason).to.equal("COMPLETED");
    expect(Number((await queryIn(accountsFile(setup.dir), `SELECT COUNT(*) AS n FROM users WHERE id = ?`, [grace.userId]))[0].n)).to.equal(0);
    const kept = await authEvents(grace.userId);
    expect(kept, "Grace's recent auth events are kept by the 90-day rule").to.be.greaterThan(0);

    const access = await asMallory("ACCESS", grace.userId);
    expect(access.status).to.equal("FAILED");
    expect(access.export).to.equal(null);
    const resolve = access.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
    expect(resolve.status).to.equal("FAILED");
    expect(resolve.lastError).to.match(UNCONFIRMED);
    expect(resolve.lastError, "the message carries no identity").not.to.include(grace.userId);
    const authCollect = access.tasks.find((x: any) => x.connector === "auth-log" && x.step === "COLLECT");
    expect(authCollect.status, "the auth log is never read by the unconfirmed user id").to.be.oneOf(["PENDING", "SKIPPED"]);
    expect(authCollect.outcome?.records ?? null).to.equal(null);

    // A minor's deletion keeps no auth events: it would erase Grace's kept ones.
    const deletion = await asMallory("DELETION", grace.userId, true);
    expect(deletion.status).to.equal("FAILED");
    expect(deletion.tasks.filter((x: any) => x.step === "ERASE" && x.status === "SUCCEEDED")).to.deep.equal([]);
    expect(await authEvents(grace.userId), "Grace's kept auth events are still in the auth log").to.equal(kept);
  });
});

/**
 * The account database alone: no other system needs what it provides, so nothing waited for its RESOLVE
 * and its own COLLECT and ERASE took a given user id as it was. Grace's account was closed by the
 * platform (her users row deleted, her sessions kept for security).
 */
describeEachDatabase("a user id given to the account database alone, for an address it holds no row for", (db) => {
  let service: AccountDbService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  it("fails Mallory's access and deletion naming Grace's user id, reading and erasing none of Grace's sessions", async () => {
    service = await accountDbService(db());
    await service.account.rows(`PRAGMA foreign_keys = OFF`);
    await service.account.rows(`DELETE FROM users WHERE id = ?`, [Number(GRACE.userId)]);
    const sessions = () => service!.account.count("sessions", "user_id = ?", [Number(GRACE.userId)]);
    const kept = await sessions();
    expect(kept, "Grace's sessions are kept").to.be.greaterThan(0);
    for (const type of ["ACCESS", "DELETION"]) {
      const r = await submitVerified(service.t, { type, subject: { email: "mallory@example.org", userId: GRACE.userId } });
      const done = await approvedToEnd(service.t, SHOW, r.id);
      expect(done.status, type).to.equal("FAILED");
      expect(done.export, type).to.equal(null);
      expect(done.tasks.find((x: any) => x.step === "RESOLVE").lastError).to.match(UNCONFIRMED);
      for (const task of done.tasks.filter((x: any) => x.step !== "RESOLVE")) {
        expect(task.status, `${type}: ${task.step} never ran with the unconfirmed id`).to.be.oneOf(["PENDING", "SKIPPED"]);
        expect(task.outcome?.records ?? null).to.equal(null);
      }
    }
    expect(await sessions(), "Grace's sessions are all still there").to.equal(kept);
  });
});
