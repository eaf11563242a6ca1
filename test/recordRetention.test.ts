import { expect } from "chai";
import { hashedEmailKey } from "../src/domain/identities";
import { purgeExpiredExports } from "../src/export/purge";
import { RECORD_PURGE_BATCH } from "../src/orchestrator/recordRetention";
import { describeEachDatabase } from "./support/databases";
import { submit, submitVerified, TEST_START, TestService } from "./support/harness";
import { UNVERIFIED_REASON } from "../src/orchestrator/unverifiedRequests";
import { ConnectorError, ErasureInstruction, ErasureOutcome, Identities, TaskContext } from "../src/connectors/sdk";
import { columnsHolding } from "./support/residue";
import { ScriptedConnector } from "./support/scriptedConnector";

/** A ticketing system whose two-step delete is asked for and then fails: the unit of erasure keeps its note for a retry. */
class FailingTwoStepDelete extends ScriptedConnector {
  override async erase(_ids: Identities, _instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    await ctx.eraseUnit("SUPPORT", async () => {
      throw new ConnectorError("The ticketing system refused the delete", "scripted two-step failure", false);
    }, "delete job 42 requested");
    return { erased: 0 };
  }
}

/** A payment system whose dispute evidence cannot be erased: one record stays, reported residual. */
class LeavesEvidence extends ScriptedConnector {
  override async erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    const before = [...(this.data.get(ids.email) ?? [])];
    const out = await super.erase(ids, instruction, ctx);
    const evidence = before[0];
    if (!evidence) return out;
    this.data.set(ids.email, [...(this.data.get(ids.email) ?? []), evidence]);
    return { ...out, erased: out.erased - 1, residual: [{ category: evidence.category, type: evidence.type, count: 1, fields: ["note"], reason: "a dispute's evidence cannot be edited" }] };
  }
}

const DAY = 24 * 60 * 60_000;
const RETENTION_DAYS = 30;
const ENV = {
  DSR_WORKER_CONCURRENCY: "2",
  DSR_WORKER_POLL_MS: "10",
  DSR_TASK_LEASE_MS: "2000",
  DSR_STAGED_GRACE_MINUTES: "60",
  DSR_REQUEST_RECORD_RETENTION_DAYS: String(RETENTION_DAYS),
};

/** Ada, with every kind of identity a request carries, typed as a person would. */
const ADA = { email: "Ada.Lovelace@Example.com", phone: "+44 20 7946 0123", userId: "usr_ada_1815", externalIds: [{ system: "zendesk", id: "zd-ada-1815" }] };
/** Every form in which Ada's identities (and what she asked to be corrected to) could sit in a column, the hold fence's hash of her address included. */
const ADA_TRACES = ["ada.lovelace@example.com", "+442079460123", "usr_ada_1815", "zd-ada-1815", "Countess of Lovelace", hashedEmailKey("ada.lovelace@example.com")];
/** Ada as a request verified by the code sent to her address names her: external ids need a caller who vouches for them. */
const ADA_BY_CODE = { email: ADA.email, phone: ADA.phone, userId: ADA.userId };
const GRACE = { email: "grace.hopper@example.com" };

describeEachDatabase("records of requests and holds past DSR_REQUEST_RECORD_RETENTION_DAYS", (db) => {
  let t: TestService;
  let accounts: ScriptedConnector;
  let payments: ScriptedConnector;
  afterEach(async () => {
    await t?.stop();
  });

  async function start(seedPayments: Date[] = []): Promise<void> {
    accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(ADA.email.toLowerCase(), 2).seed(GRACE.email, 1);
    payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(ADA.email.toLowerCase(), seedPayments);
    t = await new TestService(db(), ENV, [accounts, payments]).start();
  }

  const SHOW = `query($id: ID!) { request(id: $id) { id type status closedAt subjectRemovedAt subject { email phone userId externalIds { system id } } corrections { field value } tasks { connector step status } retentionExceptions { status } } }`;
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  const purge = () => purgeExpiredExports(t.service.services);
  const traces = () => columnsHolding(t.ds, ADA_TRACES);
  const clearedEvents = async (action: string): Promise<Array<{ count: number; ids: string[] }>> =>
    (await t.ds.query(`SELECT details FROM audit_events WHERE action = ? ORDER BY seq`, [action])).map((r: { details: string }) => JSON.parse(r.details));

  async function deletionOf(subject: Record<string, unknown>): Promise<any> {
    const r = await submit(t, { type: "DELETION", subject, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const x = await show(r.id);
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "deletion ended");
  }

  it("clears a COMPLETED deletion's subject once the period after its end has passed, keeping what was done", async function () {
    this.timeout(60_000);
    await start();
    const done = await deletionOf(ADA);
    expect(done.status).to.equal("COMPLETED");
    const certificate = async () => (await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { subjectReference } }`, { id: done.id })).deletionCertificate;
    const before = await certificate();

    // A day short of the period: nothing cleared, the record names Ada.
    t.clock.advance((RETENTION_DAYS - 1) * DAY);
    expect((await purge()).requestRecords).to.equal(0);
    expect((await show(done.id)).subject.email).to.equal(ADA.email);
    expect(await traces()).to.include("requests.subjectEmail");

    t.clock.advance(2 * DAY);
    expect((await purge()).requestRecords).to.equal(1);
    expect(await traces(), "no column of any table holds Ada's identities").to.deep.equal([]);
    const after = await show(done.id);
    expect(after.subject, "cleared, not faked").to.equal(null);
    expect(after.subjectRemovedAt).to.equal(t.clock.now().toISOString());
    // What was done stays: type, status, dates, tasks.
    expect({ ...after, subject: undefined, subjectRemovedAt: undefined }).to.deep.equal({ ...done, subject: undefined, subjectRemovedAt: undefined });
    // The certificate still names the same subject by its keyed hash.
    expect((await certificate()).subjectReference).to.equal(before.subjectReference);
    // A search by her address finds nothing now.
    const found = await t.ok(`query($e: String!) { requests(first: 10, filter: { subjectEmail: $e }) { edges { node { id } } } }`, { e: ADA.email });
    expect(found.requests.edges).to.deep.equal([]);
    // One audit event for the batch, counts and ids only.
    expect(await clearedEvents("request_records.cleared")).to.deep.equal([{ count: 1, ids: [done.id], endedBefore: new Date(t.clock.now().getTime() - RETENTION_DAYS * DAY).toISOString(), retentionDays: RETENTION_DAYS }]);
    // A second run finds nothing more.
    expect((await purge()).requestRecords).to.equal(0);
  });

  it("is cleared by the worker's own purge run, which every worker makes when it starts and every ten minutes", async function () {
    this.timeout(60_000);
    await start();
    const access = await submit(t, { type: "ACCESS", subject: ADA, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id) { status } }`, { id: access.id });
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    await t.restart();
    const cleared = await t.waitFor(async () => {
      const r = await show(access.id);
      return r.subjectRemovedAt ? r : undefined;
    }, "the worker's purge cleared the record");
    expect([cleared.status, cleared.subject]).to.deep.equal(["CANCELLED", null]);
    expect(await traces()).to.deep.equal([]);
  });

  it("closes a request nobody verified at its due date (REJECTED, audited), leaves a verified or extended one open, and clears the closed one's record after the period", async function () {
    this.timeout(60_000);
    await start();
    const unverified = await submit(t, { type: "ACCESS", subject: ADA_BY_CODE });
    const verified = await submitVerified(t, { type: "ACCESS", subject: GRACE });
    const extended = await submit(t, { type: "ACCESS", subject: { email: "alan.turing@example.com" } });
    await t.ok(`mutation($id: ID!) { extendDeadline(id: $id, days: 20, reason: "The subject asked for more time to find the code") { dueAt } }`, { id: extended.id });
    expect([unverified.status, verified.status, extended.status]).to.deep.equal(["PENDING_VERIFICATION", "PENDING_APPROVAL", "PENDING_VERIFICATION"]);
    // A day before the due date: nothing moves.
    t.clock.set(new Date(Date.parse(unverified.dueAt) - DAY));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await show(unverified.id)).status).to.equal("PENDING_VERIFICATION");
    t.clock.set(new Date(Date.parse(unverified.dueAt) + 60_000));
    const closed = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason closedAt } }`, { id: unverified.id })).request;
      return r.status === "PENDING_VERIFICATION" ? undefined : r;
    }, "the worker's sweep closed the unverified request");
    expect([closed.status, closed.statusReason]).to.deep.equal(["REJECTED", UNVERIFIED_REASON]);
    const events = await t.ds.query(`SELECT action, actorId, details FROM audit_events WHERE requestId = ? ORDER BY seq`, [unverified.id]);
    expect(events.map((e: any) => [e.action, e.actorId])).to.deep.include(["request.rejected", "system"]);
    // The code no longer verifies anything.
    const late = await t.gql(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { status } }`, { id: unverified.id, code: t.inbox.code(unverified.id) });
    expect(late.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect((await show(verified.id)).status, "verified, awaiting the privacy team").to.equal("PENDING_APPROVAL");
    expect((await show(extended.id)).status, "its deadline extended by 20 days").to.equal("PENDING_VERIFICATION");

    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    await purge();
    expect(await traces()).to.deep.equal([]);
    expect((await show(unverified.id)).subject).to.equal(null);
  });

  it("keeps the subject of a deletion that reports residual records past the period: the only record of whose they are", async function () {
    this.timeout(60_000);
    accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(ADA.email.toLowerCase(), 2);
    payments = new LeavesEvidence({ name: "payments", categories: ["PAYMENTS"] }).seed(ADA.email.toLowerCase(), 3);
    t = await new TestService(db(), ENV, [accounts, payments]).start();
    const r = await submit(t, { type: "DELETION", subject: ADA, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { status } }`, { id: r.id });
    const done = await t.waitFor(async () => {
      const x = (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason residualRecords { connector records } } }`, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "the deletion finished");
    expect([done.status, done.residualRecords], done.statusReason).to.deep.equal(["COMPLETED", [{ connector: "payments", records: 1 }]]);
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    await purge();
    const kept = await show(r.id);
    expect([kept.subjectRemovedAt, kept.subject?.email]).to.deep.equal([null, ADA.email]);
    expect(await traces()).to.include("requests.subjectEmail");
  });

  it("clears REJECTED and CANCELLED requests (a correction's values too), and leaves a request still within its period untouched", async function () {
    this.timeout(60_000);
    await start();
    const correction = await submit(t, { type: "CORRECTION", subject: ADA, corrections: [{ field: "name", value: "Countess of Lovelace" }], identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { rejectRequest(id: $id, reason: "not the account holder") { status } }`, { id: correction.id });
    const access = await submit(t, { type: "ACCESS", subject: ADA, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id) { status } }`, { id: access.id });
    // Grace's request ends ten days later: still inside its period when Ada's end.
    t.clock.advance(10 * DAY);
    const graces = await submit(t, { type: "ACCESS", subject: GRACE });
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id) { status } }`, { id: graces.id });
    expect(await traces()).to.include.members(["requests.corrections", "requests.subjectEmail", "requests.subjectPhone", "requests.subjectUserId", "requests.subjectExternalIds"]);

    t.clock.advance((RETENTION_DAYS - 10) * DAY + 60_000);
    expect((await purge()).requestRecords).to.equal(2);
    expect(await traces()).to.deep.equal([]);
    for (const id of [correction.id, access.id]) {
      const r = await show(id);
      expect([r.subject, r.corrections, r.subjectRemovedAt !== null]).to.deep.equal([null, null, true]);
    }
    expect((await show(correction.id)).status).to.equal("REJECTED");
    expect((await show(access.id)).status).to.equal("CANCELLED");
    const kept = await show(graces.id);
    expect([kept.subject.email, kept.subjectRemovedAt]).to.deep.equal([GRACE.email, null]);
    expect(await columnsHolding(t.ds, [GRACE.email])).to.include("requests.subjectEmail");

    t.clock.advance(10 * DAY);
    expect((await purge()).requestRecords).to.equal(1);
    expect(await columnsHolding(t.ds, [GRACE.email])).to.deep.equal([]);
  });

  it("keeps the identities of a deletion whose kept records are still open, and clears them once those are purged", async function () {
    this.timeout(60_000);
    // Three-year-old payment records: kept seven years from their date, four more years.
    await start([new Date(TEST_START.getTime() - 3 * 365 * DAY)]);
    const done = await deletionOf(ADA);
    expect(done.status).to.equal("COMPLETED");
    expect(done.retentionExceptions).to.deep.equal([{ status: "OPEN" }]);

    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    expect((await purge()).requestRecords, "kept while the exception is open").to.equal(0);
    expect((await show(done.id)).subject.email).to.equal(ADA.email);
    expect(await traces()).to.include.members(["request_identities.value", "requests.subjectEmail"]);

    // The kept set's time comes: the worker purges it (through Ada's identities) and closes the exception.
    t.clock.advance(4 * 365 * DAY);
    await t.waitFor(async () => ((await show(done.id)).retentionExceptions[0].status === "CLOSED" ? true : undefined), "kept set purged", 20_000);
    expect(payments.data.get(ADA.email.toLowerCase()) ?? []).to.deep.equal([]);
    expect((await purge()).requestRecords).to.equal(1);
    expect(await traces()).to.deep.equal([]);
    expect((await show(done.id)).subject).to.equal(null);
  });

  it("clears a FAILED deletion's subject, and the unit of erasure it left for a retry that can no longer come", async function () {
    this.timeout(60_000);
    accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] });
    t = await new TestService(db(), { ...ENV, DSR_TASK_MAX_ATTEMPTS: "1" }, [accounts, new FailingTwoStepDelete({ name: "tickets", categories: ["SUPPORT"] }).seed(ADA.email.toLowerCase(), 2)]).start();
    const failed = await deletionOf(ADA);
    expect(failed.status).to.equal("FAILED");
    expect(await traces(), "the failed unit, keyed by a hash of her address").to.include("erasure_units.subjectKey");

    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    expect((await purge()).requestRecords).to.equal(1);
    expect(await traces()).to.deep.equal([]);
    expect(await t.count("erasure_units")).to.equal(0);
    expect((await show(failed.id)).status).to.equal("FAILED");
  });

  it("clears a released hold's subject the period after its release, never an active hold's", async function () {
    this.timeout(60_000);
    await start();
    const PLACE = `mutation($e: String!) { placeLegalHold(input: { subjectEmail: $e, categories: ["PAYMENTS"], reason: "Litigation", caseReference: "CASE-7" }) { id } }`;
    const released = (await t.ok(PLACE, { e: ADA.email })).placeLegalHold.id;
    const active = (await t.ok(PLACE, { e: GRACE.email })).placeLegalHold.id;
    t.clock.advance(DAY);
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case closed") { status } }`, { id: released });
    const holds = async () => (await t.ok(`{ legalHolds { id status subjectEmail subjectRemovedAt caseReference } }`)).legalHolds.sort((a: any, b: any) => a.caseReference.localeCompare(b.caseReference) || a.status.localeCompare(b.status));

    t.clock.advance((RETENTION_DAYS - 1) * DAY);
    expect((await purge()).holdRecords).to.equal(0);
    expect(await traces()).to.deep.equal(["legal_holds.subjectEmail"]);

    t.clock.advance(2 * DAY);
    expect((await purge()).holdRecords).to.equal(1);
    expect(await traces()).to.deep.equal([]);
    expect(await holds()).to.deep.equal([
      { id: active, status: "ACTIVE", subjectEmail: GRACE.email, subjectRemovedAt: null, caseReference: "CASE-7" },
      { id: released, status: "RELEASED", subjectEmail: null, subjectRemovedAt: t.clock.now().toISOString(), caseReference: "CASE-7" },
    ]);
    expect((await clearedEvents("legal_holds.cleared")).map((e) => [e.count, e.ids])).to.deep.equal([[1, [released]]]);
    t.clock.advance(365 * DAY);
    expect((await purge()).holdRecords).to.equal(0);
    expect(await columnsHolding(t.ds, [GRACE.email])).to.deep.equal(["legal_holds.subjectEmail"]);
  });

  it(`clears at most ${RECORD_PURGE_BATCH} records per transaction, each batch with its own audit event`, async function () {
    this.timeout(120_000);
    await start();
    const ids: string[] = [];
    for (let i = 0; i < RECORD_PURGE_BATCH + 1; i++) {
      const r = await submit(t, { type: "ACCESS", subject: { email: `person${i}@example.com` }, identityVerified: true, verificationEvidence: "signed-in session" });
      await t.ok(`mutation($id: ID!) { cancelRequest(id: $id) { status } }`, { id: r.id });
      ids.push(r.id);
    }
    t.clock.advance((RETENTION_DAYS + 1) * DAY);
    expect((await purge()).requestRecords).to.equal(RECORD_PURGE_BATCH + 1);
    const batches = await clearedEvents("request_records.cleared");
    expect(batches.map((b) => b.count)).to.deep.equal([RECORD_PURGE_BATCH, 1]);
    expect(batches.flatMap((b) => b.ids).sort()).to.deep.equal([...ids].sort());
    expect(await t.count("requests")).to.equal(RECORD_PURGE_BATCH + 1);
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE subjectEmail IS NOT NULL OR subjectEmailAsTyped IS NOT NULL OR subjectRemovedAt IS NULL`);
    expect(Number(n)).to.equal(0);
  });

  it("answers the settings page's idempotency key with its request within the period, and with CONFLICT naming the reason after it", async function () {
    this.timeout(60_000);
    await start();
    const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id status } }`;
    const input = { idempotencyKey: "settings-ada-1", subject: { email: ADA.email } };
    const first = (await t.ok(DELETE, { input }, "SERVICE")).requestAccountDeletion;
    await t.waitFor(async () => ((await show(first.id)).status === "COMPLETED" ? true : undefined), "deletion completed");
    t.clock.advance((RETENTION_DAYS - 1) * DAY);
    expect((await t.ok(DELETE, { input }, "SERVICE")).requestAccountDeletion.id).to.equal(first.id);

    t.clock.advance(2 * DAY);
    await purge();
    const again = await t.gql(DELETE, { input }, "SERVICE");
    expect(again.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(again.errors?.[0]?.message).to.match(/no longer holds its subject.*use a new key/);
    expect(await traces()).to.deep.equal([]);
  });
});
