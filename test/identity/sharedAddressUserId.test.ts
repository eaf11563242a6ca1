import path from "node:path";
import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { accountsFile, approvedToEnd, queryIn, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason export { id } tasks { connector step status lastError outcome { records erased } } } }`;
const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
const SEVERAL = /^account-db: the userId the request gives is one of several the subject has here \(their users rows hold 2 values of userId, more than one account\?, found by their email\); the resolve stopped/;
/** A second account of the sample's account database, under Ada's address in other letter case, with no payment customer or ticketing user. */
const SECOND = "usr_99999";

/**
 * Two accounts of the account database under one address (one stored in other letter case, which the
 * sample's email index allows). The settings page deletes the signed-in account by its user id. Before,
 * its deletion of Ada's account (usr_00000) also erased the second account's users row, found by the
 * address, and left that account's device, found by its own user id, which the request never
 * followed: COMPLETED, "erased 9". A request giving no user id already failed (more than one account).
 */
describeEachDatabase("a user id given where the account database holds two accounts under the address", (db) => {
  const setup = sampleSetup(db, SHOW);
  const ada = () => setup.ws.people[0];
  const count = async (sql: string, id: string, file = accountsFile(setup.dir)) => Number((await queryIn(file, sql, [id]))[0].n);
  /** What the account database and the auth log themselves hold of account `id`. */
  const held = async (id: string) => ({
    users: await count(`SELECT COUNT(*) AS n FROM users WHERE id = ?`, id),
    devices: await count(`SELECT COUNT(*) AS n FROM devices WHERE user_id = ?`, id),
    factors: await count(`SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = ?`, id),
    authEvents: await count(`SELECT COUNT(*) AS n FROM auth_events WHERE user_id = ?`, id, path.join(setup.dir, "sample", "auth-log.sqlite")),
  });
  const addSecondAccount = async () => {
    const file = accountsFile(setup.dir);
    await queryIn(file, `INSERT INTO users (id, email, name, status, created_at) VALUES (?, ?, 'Second Account', 'ACTIVE', '2024-01-01T00:00:00.000Z')`, [SECOND, ada().email.toUpperCase()]);
    await queryIn(file, `INSERT INTO devices (user_id, name, first_seen_at, last_seen_at) VALUES (?, 'Second phone', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')`, [SECOND]);
  };
  const settingsDeletion = async (key: string) => {
    const { requestAccountDeletion: r } = await setup.t.ok(DELETE, { input: { idempotencyKey: key, subject: { email: ada().email, userId: ada().userId } } }, Role.SERVICE);
    return setup.t.waitFor(
      async () => {
        setup.t.clock.advance(1000);
        const { request } = await setup.t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "deletion ended",
      60_000,
    );
  };

  it("fails the settings deletion of one account at the account database's RESOLVE, erasing nothing of either account", async () => {
    await addSecondAccount();
    const before = { ada: await held(ada().userId), second: await held(SECOND) };
    expect(before.second).to.deep.equal({ users: 1, devices: 1, factors: 0, authEvents: 0 });
    const done = await settingsDeletion("settings-two-accounts-1");
    expect(done.status, done.statusReason).to.equal("FAILED");
    const resolve = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
    expect(resolve.status).to.equal("FAILED");
    expect(resolve.lastError).to.match(SEVERAL);
    expect(resolve.lastError, "names no identity").not.to.include(SECOND).and.not.include(ada().userId);
    expect(done.tasks.filter((x: any) => x.step === "ERASE" && x.status === "SUCCEEDED")).to.deep.equal([]);
    expect({ ada: await held(ada().userId), second: await held(SECOND) }, "both accounts as they were").to.deep.equal(before);
  });

  it("fails an access request naming one account's user id, exporting neither account's rows", async () => {
    await addSecondAccount();
    const r = await submit(setup.t, { type: "ACCESS", subject: { email: ada().email, userId: ada().userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    const done = await approvedToEnd(setup.t, SHOW, r.id);
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(done.export).to.equal(null);
    expect(done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE").lastError).to.match(SEVERAL);
    expect(done.tasks.find((x: any) => x.connector === "account-db" && x.step === "COLLECT").outcome?.records ?? null, "the second account's row never read").to.equal(null);
  });

  it("deletes the one account as before when it is the address's only one", async () => {
    const done = await settingsDeletion("settings-one-account-1");
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await held(ada().userId)).to.include({ users: 0, devices: 0, factors: 0 });
  });
});
