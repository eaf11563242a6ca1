import { expect } from "chai";
import mysql from "mysql2/promise";
import { INSTALLATION_STREAM } from "../src/audit/chain";
import { SubjectRecord, TaskContext } from "../src/connectors/sdk";
import { purgeExpiredExports } from "../src/export/purge";
import { describeEachDatabase, describeEachOf } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "10000", DSR_HOLD_WAIT_MS: "8000" };
const HOLD = `mutation($categories: [String!], $case: String!) { placeLegalHold(input: { subjectEmail: "${ADA}", categories: $categories, reason: "Dispute", caseReference: $case }) { id } }`;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category erased kept }
  retentionExceptions { connector category recordCount holdId retainUntil } } }`;

/** A gate a test opens once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The payment processor in miniature, whose survey and whose erase each wait at a gate the test opens, and which says when erase was entered. */
class GatedPayments extends ScriptedConnector {
  readonly collectGate = gate();
  readonly eraseGate = gate();
  readonly eraseEntered = gate();
  /** Wall time at which each erase call returned (after it erased). */
  readonly erasedAt: number[] = [];

  constructor() {
    super({ name: "payments", categories: ["PAYMENTS"] });
    this.seed(ADA, 3);
  }

  override async *collect(ids: Parameters<ScriptedConnector["collect"]>[0], ctx: TaskContext): AsyncIterable<SubjectRecord> {
    await this.collectGate.opened;
    yield* super.collect(ids, ctx);
  }

  override async erase(...args: Parameters<ScriptedConnector["erase"]>) {
    this.eraseEntered.open();
    await this.eraseGate.opened;
    const outcome = await super.erase(...args);
    this.erasedAt.push(Date.now());
    return outcome;
  }
}

/**
 * Two legal holds on one person placed at once, while a deletion of that person starts erasing. The
 * interleaving is made on MariaDB by holding the installation's audit-stream head (the row every hold
 * placement's transaction locks last) from the test's own connection: the first placement has then
 * marked itself on the subject's fence, found no erasure under way and inserted its hold, uncommitted.
 */
describeEachOf(["mariadb"], "legal holds placed at once on one person", (db) => {
  let t: TestService;
  let blocker: mysql.Connection | undefined;
  afterEach(async () => {
    await blocker?.end().catch(() => undefined);
    await t?.stop();
  });

  it("keeps the held category whole: a second placement never lifts the first one's fence while the first commits", async function () {
    this.timeout(120_000);
    const payments = new GatedPayments();
    t = await new TestService(db(), ENV, [payments]).start();
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });

    blocker = await mysql.createConnection({ uri: db().url });
    await blocker.query("START TRANSACTION");
    await blocker.query("SELECT stream FROM audit_stream_heads WHERE stream = ? FOR UPDATE", [INSTALLATION_STREAM]);
    const waitingOnHead = async (n: number) =>
      t.waitFor(async () => {
        // InnoDB refreshes this table only when it was not read for 0.1 s.
        await new Promise((resolve) => setTimeout(resolve, 150));
        const [rows] = await blocker!.query(`SELECT trx_state FROM information_schema.INNODB_TRX`);
        return (rows as Array<{ trx_state: string }>).filter((x) => x.trx_state === "LOCK WAIT").length >= n ? true : undefined;
      }, `${n} placement(s) waiting on the audit head`);

    const first = t.gql(HOLD, { categories: ["PAYMENTS"], case: "CASE-P" });
    await waitingOnHead(1);
    const second = t.gql(HOLD, { categories: ["SUPPORT"], case: "CASE-S" });
    // The second placement marks the fence (and, unfixed, overwrites the first's mark), then waits too or waits its turn.
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The survey ends: the deletion's ERASE starts a unit of PAYMENTS while the first hold is uncommitted.
    payments.collectGate.open();
    const entered = await Promise.race([payments.eraseEntered.opened.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000))]);
    await blocker.query("ROLLBACK");
    const placed = await Promise.all([first, second]);
    for (const p of placed) expect(p.errors, JSON.stringify(p.errors)).to.equal(undefined);
    const answeredAt = Date.now();
    const holdId = placed[0].data.placeLegalHold.id;
    payments.eraseGate.open();

    const done = await t.waitFor(async () => {
      const x = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "deletion finished", 60_000);
    const erasedAfterHold = payments.erasedAt.filter((at) => at >= answeredAt).length;
    const left = payments.data.get(ADA)?.length ?? 0;
    const report = `erase entered before the hold committed: ${entered}; erase calls ending after the PAYMENTS hold was answered: ${erasedAfterHold}; records left: ${left}; ${JSON.stringify(done)}`;
    // The system itself: the held category is whole.
    expect(left, report).to.equal(3);
    expect(done.status, report).to.equal("COMPLETED");
    expect(done.deletionOutcome, report).to.deep.equal([{ connector: "payments", category: "PAYMENTS", erased: 0, kept: 3 }]);
    expect(done.retentionExceptions, report).to.deep.equal([{ connector: "payments", category: "PAYMENTS", recordCount: 3, holdId, retainUntil: null }]);
  });
});

/**
 * One hold whose transaction is slow to commit (its last statement waits on the installation's audit
 * head, held by the test) while the service clock moves on, and a deletion's PAYMENTS unit that starts
 * meanwhile. Returns what the placement answered, the deletion's report and the records left.
 */
async function slowCommit(t: TestService, db: () => { url: string }, payments: GatedPayments, commitMs: number) {
  const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  const blocker = await mysql.createConnection({ uri: db().url });
  try {
    await blocker.query("START TRANSACTION");
    await blocker.query("SELECT stream FROM audit_stream_heads WHERE stream = ? FOR UPDATE", [INSTALLATION_STREAM]);
    const placing = t.gql(HOLD, { categories: ["PAYMENTS"], case: "CASE-P" });
    await t.waitFor(async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const [rows] = await blocker.query(`SELECT trx_state FROM information_schema.INNODB_TRX`);
      return (rows as Array<{ trx_state: string }>).some((x) => x.trx_state === "LOCK WAIT") ? true : undefined;
    }, "the placement waiting on the audit head");
    t.clock.advance(commitMs);
    payments.collectGate.open();
    const entered = await Promise.race([payments.eraseEntered.opened.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000))]);
    await blocker.query("ROLLBACK");
    const placed = await placing;
    payments.eraseGate.open();
    const done = await t.waitFor(async () => {
      const x = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "deletion finished", 60_000);
    const left = payments.data.get(ADA)?.length ?? 0;
    return { placed, done, left, report: `erase entered while the hold was uncommitted: ${entered}; records left: ${left}; placement: ${JSON.stringify(placed)}; ${JSON.stringify(done)}` };
  } finally {
    await blocker.end().catch(() => undefined);
  }
}

describeEachOf(["mariadb"], "a legal hold slow to commit", (db) => {
  let t: TestService;
  let payments: GatedPayments;
  beforeEach(async () => {
    payments = new GatedPayments();
    t = await new TestService(db(), { ...ENV, DSR_HOLD_WAIT_MS: "1000" }, [payments]).start();
  });
  afterEach(async () => {
    await t?.stop();
  });

  it("keeps the held category whole when the hold's commit takes longer than its wait (5 s against 1 s)", async function () {
    this.timeout(120_000);
    const { placed, done, left, report } = await slowCommit(t, db, payments, 5_000);
    expect(placed.errors, report).to.equal(undefined);
    expect(left, report).to.equal(3);
    expect(done.deletionOutcome, report).to.deep.equal([{ connector: "payments", category: "PAYMENTS", erased: 0, kept: 3 }]);
    expect(done.retentionExceptions, report).to.deep.equal([{ connector: "payments", category: "PAYMENTS", recordCount: 3, holdId: placed.data.placeLegalHold.id, retainUntil: null }]);
  });

  it("refuses a hold whose commit outlasts its mark on the fence, placing nothing, and the deletion reports what it erased", async function () {
    this.timeout(120_000);
    const { placed, done, left, report } = await slowCommit(t, db, payments, 120_000);
    expect(placed.errors?.map((e) => e.extensions.code), report).to.deep.equal(["CONFLICT"]);
    expect(await t.count("legal_holds"), report).to.equal(0);
    expect(left, report).to.equal(0);
    expect(done.status, report).to.equal("COMPLETED");
    expect(done.deletionOutcome, report).to.deep.equal([{ connector: "payments", category: "PAYMENTS", erased: 3, kept: 0 }]);
    expect(done.retentionExceptions, report).to.deep.equal([]);
  });
});

describeEachDatabase("legal holds placed at once on one person, taking turns", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("places every one of six concurrent holds, each once, and leaves no placement pending on the fence", async () => {
    t = await new TestService(db(), ENV).start();
    const categories = ["PAYMENTS", "SUPPORT", "ACCOUNT", "AUTH_LOGS", "PAYMENTS", "SUPPORT"];
    const placed = await Promise.all(categories.map((c, i) => t.gql(HOLD, { categories: [c], case: `CASE-${i}` })));
    expect(placed.map((p) => p.errors?.[0]?.extensions?.code ?? "placed")).to.deep.equal(categories.map(() => "placed"));
    const rows: Array<{ caseReference: string; status: string }> = await t.ds.query(`SELECT caseReference, status FROM legal_holds ORDER BY caseReference`);
    expect(rows.map((r) => `${r.caseReference}:${r.status}`)).to.deep.equal(categories.map((_, i) => `CASE-${i}:ACTIVE`));
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'legal_hold.placed'`);
    expect(Number(n)).to.equal(categories.length);
    const fences: Array<{ placingUntil: unknown }> = await t.ds.query(`SELECT placingUntil FROM erasure_fences`);
    expect(fences.map((f) => f.placingUntil)).to.deep.equal([null]);
  });

  it("places holds on twenty people at once, more than the connection pool holds, without waiting on each other", async function () {
    this.timeout(60_000);
    t = await new TestService(db(), ENV).start();
    const people = Array.from({ length: 20 }, (_, i) => `held${i}@example.com`);
    const started = Date.now();
    const placed = await Promise.all(
      people.map((email, i) => t.gql(`mutation { placeLegalHold(input: { subjectEmail: "${email}", reason: "Litigation", caseReference: "CASE-${i}" }) { id } }`)),
    );
    expect(placed.map((p) => p.errors?.[0]?.extensions?.code ?? "placed")).to.deep.equal(people.map(() => "placed"));
    expect(await t.count("legal_holds")).to.equal(people.length);
    expect(Date.now() - started, "twenty placements, none waiting for another").to.be.below(8_000);
  });
});

describeEachDatabase("the hold fence's rows", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });
  const marks = async () => (await t.ds.query(`SELECT placingUntil FROM erasure_fences`)).map((f: { placingUntil: unknown }) => (f.placingUntil === null ? "idle" : "marked"));

  it("are removed by the purge once no placement marks them, never while one waits, and the fence still works after", async function () {
    this.timeout(60_000);
    const payments = new GatedPayments();
    t = await new TestService(db(), ENV, [payments]).start();
    // Holds on two other people: each leaves a row behind, its mark cleared.
    for (const email of ["grace.hopper@example.com", "alan.turing@example.com"]) {
      await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${email}", categories: ["SUPPORT"], reason: "Dispute", caseReference: "CASE-O" }) { id } }`);
    }
    // Ada's deletion erases PAYMENTS; a PAYMENTS hold on her waits for it, its mark standing.
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    payments.collectGate.open();
    await payments.eraseEntered.opened;
    const waiting = t.gql(HOLD, { categories: ["PAYMENTS"], case: "CASE-W" });
    await t.waitFor(async () => ((await marks()).includes("marked") ? true : undefined), "the placement marked the fence");
    expect((await marks()).sort()).to.deep.equal(["idle", "idle", "marked"]);

    expect((await purgeExpiredExports(t.service.services)).fences, "the two idle rows").to.equal(2);
    expect(await marks(), "the waiting placement's row stays").to.deep.equal(["marked"]);
    payments.eraseGate.open();
    const placed = await waiting;
    expect(placed.errors, JSON.stringify(placed.errors)).to.equal(undefined);
    await t.waitFor(async () => (["COMPLETED", "FAILED"].includes((await t.ok(SHOW, { id: r.id })).request.status) ? true : undefined), "deletion finished");

    expect((await purgeExpiredExports(t.service.services)).fences, "the placement's row, once it ended").to.equal(1);
    expect(await t.count("erasure_fences")).to.equal(0);
    // The fence makes its rows again when a placement needs one: the next PAYMENTS hold on Ada is placed.
    const again = await t.gql(HOLD, { categories: ["PAYMENTS"], case: "CASE-A" });
    expect(again.errors, JSON.stringify(again.errors)).to.equal(undefined);
    expect(await marks()).to.deep.equal(["idle"]);
    expect(await t.count("legal_holds")).to.equal(4);
  });
});
