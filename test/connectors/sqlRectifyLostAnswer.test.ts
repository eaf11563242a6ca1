import { expect } from "chai";
import { createMariadbDatabase, describeEachDatabase, MYSQL_URL, TestDatabase } from "../support/databases";
import { ADA } from "./support/accountDb";
import { whenEnded } from "../identity/support";
import { accountDbService, AccountDbService } from "./support/accountDbService";
import { FaultyProxy } from "./support/faultyProxy";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { id step status attempts lastError outcome { changed notHeld } } } }`;
const NEW = "ada@analytical.example";

/**
 * The account database (MariaDB) behind a proxy that loses the server's answer to the COMMIT of the
 * correction's UPDATE: the database holds the corrected address, the connector sees its connection cut
 * (a network blip or a failover right after the commit) and fails its unit, retryable. Before, the unit
 * was ended as if it had written nothing: the retry found no row under the old address, was told no
 * earlier attempt had written (writtenBefore false), reported the address not held, and the request
 * FAILED "Nothing was corrected: no system that corrects data holds these fields" while users.email held
 * the new address; with no retry left it FAILED naming only the lost connection.
 */
describeEachDatabase("a correction (or a deletion) whose write committed and whose answer was lost", (db) => {
  let service: AccountDbService | undefined;
  let proxy: FaultyProxy | undefined;
  let accountDb: TestDatabase | undefined;
  beforeEach(async () => {
    accountDb = await createMariadbDatabase();
    const server = new URL(MYSQL_URL);
    proxy = await new FaultyProxy({ host: server.hostname, port: Number(server.port || 3306) }).start();
    const url = new URL(accountDb.url);
    url.port = String(proxy.port);
    accountDb = { ...accountDb, url: url.toString() };
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await proxy?.stop();
    await accountDb?.drop();
  });

  const correctAddress = async (settings: Record<string, string>) => {
    service = await accountDbService(db(), undefined, accountDb, undefined, { DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100", ...settings });
    proxy!.loseAnswers(/UPDATE `users` SET/, /\x03COMMIT/);
    // The service's clock runs as a real one does: units of writing end on it, a retry's backoff passes.
    const ticking = setInterval(() => service!.t.clock.advance(20), 20);
    const done = await service.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "email", value: NEW }] }, SHOW).finally(() => clearInterval(ticking));
    expect(proxy!.lost, `answers lost: ${JSON.stringify(done)}`).to.equal(1);
    return done;
  };

  it("is reported changed by the retry, which finds the row under the new address: COMPLETED", async () => {
    const done = await correctAddress({});
    // The database's own row: the address was corrected by the first attempt.
    expect(await service!.account.rows(`SELECT email FROM users WHERE id = 1`)).to.deep.equal([{ email: NEW }]);
    const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.attempts).to.equal(2);
    expect(rectify.outcome).to.deep.equal({ changed: ["email"], notHeld: [] });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.statusReason).to.equal(null);
  });

  it("FAILS with no retry left, saying the system may hold the new value", async () => {
    const done = await correctAddress({ DSR_TASK_MAX_ATTEMPTS: "1" });
    expect(await service!.account.rows(`SELECT email FROM users WHERE id = 1`)).to.deep.equal([{ email: NEW }]);
    expect(done.status).to.equal("FAILED");
    expect(done.statusReason).to.match(/^1 task\(s\) failed: account-db RECTIFY: /);
    expect(done.statusReason).to.contain("Yet account-db may hold the new values already (email): a write of this correction there committed, or its answer was lost, before the task failed.");
    expect(done.statusReason).not.to.contain(NEW);
    // An operator's retryTask runs it again, its attempts counted from 1: the run still reads that the
    // failed attempt may have written, finds the row under the new address, and reports it changed.
    await service!.t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: done.tasks.find((x: any) => x.step === "RECTIFY").id });
    const retried = await whenEnded(service!.t, SHOW, done.id);
    expect(await service!.account.rows(`SELECT email FROM users WHERE id = 1`)).to.deep.equal([{ email: NEW }]);
    expect(retried.tasks.find((x: any) => x.step === "RECTIFY").outcome, JSON.stringify(retried)).to.deep.equal({ changed: ["email"], notHeld: [] });
    expect(retried.status, retried.statusReason).to.equal("COMPLETED");
  });
  // A deletion's DELETE of a page of sessions commits and its answer is lost: with no retry left the ERASE
  // FAILS (the connection cut, its attempts spent), and the operator's retryTask runs it again.
  const ERASED = `query($id: ID!) { request(id: $id) { id status deletionOutcome { category erased differences { kind records } } tasks { id step status lastError outcome { erased erasedInDoubt } } } }`;
  it("a deletion FAILS reporting the sessions that commit removed in doubt, and its retryTask counts them erased by that attempt, once", async () => {
    service = await accountDbService(db(), undefined, accountDb, undefined, { DSR_TASK_MAX_ATTEMPTS: "1", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100" });
    const adas = async () => (await service!.account.count("users", "id = 1")) + (await service!.account.count("mfa_factors", "user_id = 1")) + (await service!.account.count("sessions", "user_id = 1"));
    const held = await adas();
    proxy!.loseAnswers(/DELETE FROM `sessions`/, /\x03COMMIT/);
    const ticking = setInterval(() => service!.t.clock.advance(20), 20);
    try {
      const failed = await service.run({ type: "DELETION", subject: { email: ADA.email } }, ERASED);
      expect(proxy!.lost).to.equal(1);
      const gone = held - (await adas());
      const erase = (request: any) => request.tasks.find((x: any) => x.step === "ERASE");
      expect(failed.status, JSON.stringify(failed.tasks)).to.equal("FAILED");
      // Not "nothing erased": what units confirmed, and the rest of what the database lost, in doubt.
      const { erased, erasedInDoubt } = erase(failed).outcome;
      expect(erasedInDoubt).to.be.greaterThan(0);
      expect(erased + erasedInDoubt).to.equal(gone);

      await service.t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: erase(failed).id });
      const retried = await whenEnded(service.t, ERASED, failed.id);
      expect(retried.status, JSON.stringify(retried.tasks)).to.equal("COMPLETED");
      const differences = retried.deletionOutcome.flatMap((l: any) => l.differences.map((d: any) => `${l.category} ${d.kind} ${d.records}`));
      expect(differences).to.deep.equal([`AUTH_LOGS ERASED_BY_FAILED_ATTEMPT ${erasedInDoubt}`]);
      // Each row the database lost counted once, by the line and by the task.
      const lost = held - (await adas());
      const lines = retried.deletionOutcome.filter((l: any) => l.category !== "PAYMENTS");
      expect(lines.reduce((n: number, l: any) => n + l.erased, 0)).to.equal(lost);
    } finally {
      clearInterval(ticking);
    }
  });
});
