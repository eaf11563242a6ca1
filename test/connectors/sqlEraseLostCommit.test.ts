import { expect } from "chai";
import { createMariadbDatabase, describeEachDatabase, MYSQL_URL, TestDatabase } from "../support/databases";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";
import { FaultyProxy } from "./support/faultyProxy";

const ERASED = `query($id: ID!) { request(id: $id) { id status deletionOutcome { category erased differences { kind records reason } } tasks { id step status attempts lastError outcome { erased erasedInDoubt } } } }`;

/**
 * The account database (MariaDB) behind a proxy that loses the server's answer to the COMMIT of an
 * erasure's DELETE of sessions: the rows are gone, the connector sees its connection cut and fails the
 * attempt, retryable. The next attempt no longer finds them: it counts them erased by the failed attempt
 * (ERASED_BY_FAILED_ATTEMPT), as a retryTask after a failure for good does. Before, only a failure for
 * good was counted after: the next attempt reported them FEWER_RECORDS, gone "by an earlier attempt or
 * outside the service", and counted them erased nowhere. Checked against the tables' own counts.
 */
describeEachDatabase("an erasure or purge whose DELETE committed, its answer lost, and whose next attempt ends it", (db) => {
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

  it("counts the sessions that commit removed erased by the failed attempt, not gone outside the service", async () => {
    service = await accountDbService(db(), undefined, accountDb, undefined, { DSR_TASK_MAX_ATTEMPTS: "3", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100" });
    const adas = async () => (await service!.account.count("users", "id = 1")) + (await service!.account.count("mfa_factors", "user_id = 1")) + (await service!.account.count("sessions", "user_id = 1"));
    const held = await adas();
    proxy!.loseAnswers(/DELETE FROM `sessions`/, /\x03COMMIT/);
    const ticking = setInterval(() => service!.t.clock.advance(20), 20);
    try {
      const done = await service.run({ type: "DELETION", subject: { email: ADA.email } }, ERASED);
      const seen = JSON.stringify(done);
      console.log(`      ${db().kind} ${seen}`);
      expect(proxy!.lost, seen).to.equal(1);
      expect(done.status, seen).to.equal("COMPLETED");
      const erase = done.tasks.find((x: any) => x.step === "ERASE");
      expect(erase.attempts, `the attempt whose answer was lost, then the one that ended ${seen}`).to.equal(2);
      const lost = held - (await adas());
      const differences = done.deletionOutcome.flatMap((l: any) => l.differences.map((d: any) => `${l.category} ${d.kind}`));
      // Before: AUTH_LOGS FEWER_RECORDS 500 "erased by an earlier attempt or outside the service", erased 700 of the 1,200 the table lost.
      expect(differences, seen).to.deep.equal(["AUTH_LOGS ERASED_BY_FAILED_ATTEMPT"]);
      expect(erase.outcome.erased, seen).to.equal(lost);
      const lines = done.deletionOutcome.filter((l: any) => l.category !== "PAYMENTS");
      expect(lines.reduce((n: number, l: any) => n + l.erased, 0), seen).to.equal(lost);
    } finally {
      clearInterval(ticking);
    }
  });

  const PURGED = `query($id: ID!) { request(id: $id) { id status retentionExceptions { category recordCount status } tasks { id step status attempts lastError outcome { erased erasedInDoubt kept } } } }`;
  // A legal hold keeps Ada's sessions; its release purges them, and the answer to the COMMIT of one DELETE
  // of 500 is lost, the purge's only attempt: it FAILS, and the operator's retryTask runs it again.
  it("counts once, in the retried purge, the sessions the failed purge's lost COMMIT removed", async () => {
    service = await accountDbService(db(), undefined, accountDb, undefined, { DSR_TASK_MAX_ATTEMPTS: "1", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100" });
    const adas = async () => (await service!.account.count("users", "id = 1")) + (await service!.account.count("mfa_factors", "user_id = 1")) + (await service!.account.count("sessions", "user_id = 1"));
    const hold = (await service.t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA.email}", categories: ["AUTH_LOGS"], reason: "Litigation", caseReference: "CASE-LOST" }) { id } }`)).placeLegalHold.id;
    const ticking = setInterval(() => service!.t.clock.advance(20), 20);
    try {
      const deleted = await service.run({ type: "DELETION", subject: { email: ADA.email } }, PURGED);
      expect(deleted.status, JSON.stringify(deleted)).to.equal("COMPLETED");
      const kept = await adas();
      expect(await service.account.count("sessions", "user_id = 1"), JSON.stringify(deleted)).to.be.greaterThan(500);
      proxy!.loseAnswers(/DELETE FROM `sessions`/, /\x03COMMIT/);
      await service.t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`, { id: hold });
      const failed = await service.t.purgeEnded(PURGED, deleted.id, 60_000);
      const purge = (r: any) => r.tasks.find((x: any) => x.step === "PURGE");
      const atFailure = await adas();
      console.log(`      ${db().kind} failed: ${JSON.stringify(purge(failed))} ${kept} -> ${atFailure}`);
      expect(proxy!.lost).to.equal(1);
      expect(purge(failed).status).to.equal("FAILED");
      // Before: outcome null, as if the purge had erased nothing.
      expect(purge(failed).outcome.erased + purge(failed).outcome.erasedInDoubt, `what the table lost in the failed purge ${JSON.stringify(purge(failed))}`).to.equal(kept - atFailure);
      await service.t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: purge(failed).id });
      const retried = await service.t.waitFor(async () => {
        const r = (await service!.t.ok(PURGED, { id: deleted.id })).request;
        return purge(r).status === "SUCCEEDED" ? r : undefined;
      }, "the retried purge", 60_000);
      const left = await adas();
      const seen = `${JSON.stringify(retried)} ${kept} -> ${atFailure} -> ${left}`;
      console.log(`      ${db().kind} ${seen}`);
      expect(left, seen).to.equal(0);
      // Before: 701, what the retry found left to erase, of the 1,201 rows the purge removed.
      expect(purge(retried).outcome.erased, `what the table lost in the purge, each row once ${seen}`).to.equal(kept);
    } finally {
      clearInterval(ticking);
    }
  });
});
