import { expect } from "chai";
import { purgeExpiredExports } from "../src/export/purge";
import { describeEachDatabase } from "./support/databases";
import { submit, TEST_START, TestService } from "./support/harness";
import { ErasureInstruction, ErasureOutcome, Identities, LookedUpRecord, RecordRef, SubjectRecord, TaskContext } from "../src/connectors/sdk";
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

/**
 * A ticketing system whose erasure, on its first attempts, unlinks the person's tickets from her (they no
 * longer come up under her email) and then fails, leaving them holding what she wrote: only a look-up by
 * the ids the survey found still sees them, as with a deleted customer's invoices at a payment processor.
 */
class UnlinkingConnector extends ScriptedConnector {
  readonly unlinked = new Map<string, SubjectRecord>();

  override async erase(ids: Identities, _instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    for (const r of this.data.get(ids.email) ?? []) this.unlinked.set(r.id, r);
    this.data.delete(ids.email);
    await this.act("erase", ctx);
    return { erased: 0 };
  }

  async *lookup(refs: readonly RecordRef[]): AsyncIterable<LookedUpRecord> {
    for (const ref of refs) {
      const r = this.unlinked.get(ref.id);
      if (r) yield { category: r.category, type: r.type, id: r.id, personalFields: ["note"] };
    }
  }
}

/**
 * A deletion that kept records under a retention rule keeps its identities for as long as that exception
 * is open (the purge that ends it erases through them), but the record ids its survey planned to erase go
 * at the grace like any request's. The verification after an erasure looks those ids up: a task retried
 * after the grace would verify without them, and could call erased what still holds the person's data.
 */
describeEachDatabase("a failed deletion with kept records, past the grace", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("refuses retryTask with CONFLICT, though the identities stay for the open exception, and changes nothing", async function () {
    this.timeout(60_000);
    const DAY = 24 * 60 * MINUTE;
    // Three-year-old payment records: kept seven years, an exception OPEN.
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(ADA, [new Date(TEST_START.getTime() - 3 * 365 * DAY)]);
    const tickets = new UnlinkingConnector({ name: "tickets", categories: ["SUPPORT"] }).seed(ADA, 2);
    tickets.script("erase", { kind: "fatal" });
    t = await new TestService(db(), ENV, [payments, tickets]).start();
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const SHOW_KEPT = `query($id: ID!) { request(id: $id) { status statusReason tasks { id connector step status } retentionExceptions { connector status } } }`;
    const ended = () =>
      t.waitFor(async () => {
        const x = (await t.ok(SHOW_KEPT, { id: r.id })).request;
        return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
      }, "deletion ended");
    const failed = await ended();
    expect(failed.status).to.equal("FAILED");
    expect(failed.retentionExceptions).to.deep.equal([{ connector: "payments", status: "OPEN" }]);
    const task = failed.tasks.find((x: any) => x.connector === "tickets" && x.step === "ERASE");
    expect(task.status).to.equal("FAILED");
    expect([...tickets.unlinked.keys()], "her tickets, unlinked from her, still hold what she wrote").to.have.length(2);
    const count = async (table: string) => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM ${table} WHERE requestId = ?`, [r.id]))[0].n);

    // Within the grace: accepted; the erasure now runs, but its verification looks the surveyed ids up
    // and finds the unlinked tickets: not COMPLETED.
    t.clock.advance((GRACE_MINUTES - 1) * MINUTE);
    expect((await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: task.id })).retryTask.status).to.equal("PENDING");
    const again = await ended();
    expect(again.status, "the verification saw the unlinked tickets").to.equal("FAILED");
    expect(again.statusReason).to.match(/still present/);

    t.clock.advance(GRACE_MINUTES * MINUTE + MINUTE);
    const purged = await purgeExpiredExports(t.service.services);
    expect(purged.identities, "kept while the exception is open").to.equal(0);
    expect(await count("request_identities")).to.be.greaterThan(0);
    expect(await count("surveyed_ids"), "the survey's ids, removed at the grace, kept sets or not").to.equal(0);
    const events = await count("audit_events");
    const calls = tickets.calls.length;
    const refused = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: task.id });
    expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(refused.errors?.[0]?.message).to.match(/ended more than DSR_STAGED_GRACE_MINUTES \(60\) ago.*survey planned to erase.*submit a new request/);
    expect(refused.errors?.[0]?.message).not.to.contain(ADA);
    const now = (await t.ok(SHOW_KEPT, { id: r.id })).request;
    expect(now.status).to.equal("FAILED");
    expect(now.tasks.find((x: any) => x.id === task.id).status).to.equal("FAILED");
    expect(tickets.calls.length, "the ticketing system was not called again").to.equal(calls);
    expect(await count("audit_events"), "no audit event").to.equal(events);
    expect([...tickets.unlinked.keys()]).to.have.length(2);
  });
});
