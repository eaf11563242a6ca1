import { expect } from "chai";
import { purgeExpiredExports } from "../src/export/purge";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const GRACE_MINUTES = 60;
const MINUTE = 60_000;
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_STAGED_GRACE_MINUTES: String(GRACE_MINUTES), DSR_TASK_MAX_ATTEMPTS: "1" };
const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id connector step status } } }`;
/** What the account system resolves for Ada: identities the request was not given. */
const FOUND = { phone: "+442079460123", paymentCustomerId: "cus_ADA42", userId: "usr_ada" };

/**
 * The identities a request's tasks work from (request_identities) are personal data the service keeps
 * only for its purpose: read here from the service's own tables, as a database reader would see them.
 */
describeEachDatabase("the identities of a request past their purpose", (db) => {
  let t: TestService;
  let accounts: ScriptedConnector;
  let tickets: ScriptedConnector;
  beforeEach(async () => {
    accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"], provides: ["phone", "paymentCustomerId", "userId"] }, FOUND).seed(ADA, 2);
    // It needs what the account system finds: the request resolves before it collects.
    tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"], supports: ["access"], needs: ["email", "paymentCustomerId"] }).seed(ADA, 3);
    t = await new TestService(db(), ENV, [accounts, tickets]).start();
  });
  afterEach(async () => {
    await t?.stop();
  });

  const identities = async (id: string) =>
    ((await t.ds.query(`SELECT kind, value FROM request_identities WHERE requestId = ? ORDER BY kind`, [id])) as Array<{ kind: string; value: string }>).map((r) => `${r.kind}=${r.value}`);
  const anyOfAda = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM request_identities WHERE value IN (?, ?, ?, ?)`, [ADA, ...Object.values(FOUND)]))[0].n);
  const ended = (id: string) =>
    t.waitFor(async () => {
      const r = (await t.ok(SHOW, { id })).request;
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "request ended");
  async function approved(): Promise<string> {
    const r = await submit(t, { type: "ACCESS", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id;
  }

  it("are removed by the purge DSR_STAGED_GRACE_MINUTES after the request ended, not before", async function () {
    this.timeout(60_000);
    const id = await approved();
    expect((await ended(id)).status).to.equal("COMPLETED");
    const all = ["email=" + ADA, "paymentCustomerId=cus_ADA42", "phone=+442079460123", "userId=usr_ada"];
    expect(await identities(id), "given and found, while they may still serve").to.deep.equal(all);

    t.clock.advance((GRACE_MINUTES - 1) * MINUTE);
    expect((await purgeExpiredExports(t.service.services)).identities).to.equal(0);
    expect(await identities(id)).to.deep.equal(all);

    t.clock.advance(2 * MINUTE);
    expect((await purgeExpiredExports(t.service.services)).identities).to.equal(4);
    expect(await identities(id)).to.deep.equal([]);
    expect(await anyOfAda(), "no identity of Ada's left in request_identities").to.equal(0);
    // What the privacy team reads of the request is unchanged: it never showed the identities found.
    const r = (await t.ok(`query($id: ID!) { request(id: $id) { status subject { email } export { records } } }`, { id })).request;
    expect(r).to.deep.equal({ status: "COMPLETED", subject: { email: ADA }, export: { records: 5 } });
  });

  it("let a failed task be retried within the grace, and after it refuse the retry with CONFLICT, changing nothing", async function () {
    this.timeout(60_000);
    tickets.script("collect", { kind: "fatal" }, { kind: "fatal" });
    const id = await approved();
    const failed = await ended(id);
    expect(failed.status).to.equal("FAILED");
    const task = failed.tasks.find((x: any) => x.connector === "tickets" && x.step === "COLLECT");
    expect(task.status).to.equal("FAILED");

    // Within the grace: retried (and it fails again, as scripted).
    t.clock.advance((GRACE_MINUTES - 1) * MINUTE);
    expect((await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: task.id })).retryTask.status).to.equal("PENDING");
    expect((await ended(id)).status).to.equal("FAILED");

    t.clock.advance(GRACE_MINUTES * MINUTE + MINUTE);
    const events = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE requestId = ?`, [id]))[0].n);
    const before = await events();
    // Refused before the purge has run as after: the rule, not the purge's timing, decides.
    for (const purged of [false, true]) {
      if (purged) expect((await purgeExpiredExports(t.service.services)).identities).to.equal(4);
      const refused = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: task.id });
      expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
      expect(refused.errors?.[0]?.message).to.match(/ended more than DSR_STAGED_GRACE_MINUTES \(60\) ago.*submit a new request/);
      expect(refused.errors?.[0]?.message).not.to.contain(ADA);
      const now = (await t.ok(SHOW, { id })).request;
      expect(now.status).to.equal("FAILED");
      expect(now.tasks.find((x: any) => x.id === task.id).status).to.equal("FAILED");
      expect(await events(), "no audit event").to.equal(before);
    }
    expect(await identities(id)).to.deep.equal([]);
  });
});
