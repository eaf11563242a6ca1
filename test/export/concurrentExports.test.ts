import { expect } from "chai";
import { SubjectRecord } from "../../src/connectors/sdk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";

const SUBJECTS = 8;
const RECORDS = 12_000;

/** `count` records of one subject in one category, big enough to fill a few staged batches. */
function records(category: "AUTH_LOGS" | "SUPPORT", email: string, count: number): SubjectRecord[] {
  return Array.from({ length: count }, (_, i) => ({ category, type: "event", id: `${email}-${i}`, recordedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), data: { device: "Pixel 8", note: `event ${i} of ${email}`, n: i } }));
}

describeEachDatabase("concurrent exports", (db) => {
  let t: TestService;

  before(async function () {
    this.timeout(120_000);
    const logs = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"], supports: ["access"] });
    const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"], supports: ["access"] });
    for (let i = 0; i < SUBJECTS; i++) {
      logs.data.set(`person${i}@example.com`, records("AUTH_LOGS", `person${i}@example.com`, RECORDS));
      tickets.data.set(`person${i}@example.com`, records("SUPPORT", `person${i}@example.com`, RECORDS / 4));
    }
    // Staging, exporting and deleting staged batches of eight requests at once, in one process.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "8", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "10000", DSR_TASK_MAX_ATTEMPTS: "3", DSR_RATE_LIMIT_PER_SECOND: "0" }, [logs, tickets]).start();
  });
  after(async () => {
    await t?.stop();
  });

  it("stages, exports and removes the staged records of eight requests at once with no failed attempt", async function () {
    this.timeout(240_000);
    const ids: string[] = [];
    for (let i = 0; i < SUBJECTS; i++) {
      const r = await t.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, {
        input: { type: "ACCESS", subject: { email: `person${i}@example.com` }, identityVerified: true, verificationEvidence: "concurrency test" },
      });
      ids.push(r.submitRequest.id);
    }
    await Promise.all(ids.map((id) => t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id })));
    const open = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE status NOT IN ('COMPLETED', 'FAILED')`))[0].n);
    await t.waitFor(async () => ((await open()) === 0 ? true : undefined), "every request to end", 200_000);
    const tasks = await t.ds.query(`SELECT step, status, attempts, lastError FROM tasks`);
    // A deadlock (or any other failure) would show as a second attempt or a recorded error.
    expect(tasks.filter((x: any) => x.status !== "SUCCEEDED" || Number(x.attempts) !== 1 || x.lastError !== null)).to.deep.equal([]);
    for (const id of ids) {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status export { records } } }`, { id })).request;
      expect(r).to.deep.equal({ status: "COMPLETED", export: { records: RECORDS + RECORDS / 4 } });
    }
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches`))[0].n)).to.equal(0);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_keys`))[0].n)).to.equal(0);
  });
});
