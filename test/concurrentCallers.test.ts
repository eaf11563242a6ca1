import { expect } from "chai";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { createToken, revokeToken } from "../src/auth/tokens";
import { Role } from "../src/domain/enums";
import { ApiTokenRow } from "../src/entities";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "1" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason duplicateOf tasks { id connector step status }
  deletionOutcome { connector category plannedToErase erased matchesPlan differences { kind records } } } }`;
const APPROVE = `mutation($id: ID!) { approveRequest(id: $id) { id status duplicateOf } }`;
const RETRY = `mutation($id: ID!) { retryTask(id: $id) { id status } }`;
const DELETE_ACCOUNT = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id status duplicateOf } }`;

/** Audit events of `action`, over every stream. */
async function eventsOf(t: TestService, action: string): Promise<number> {
  const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = ?`, [action]);
  return Number(n);
}

describeEachDatabase("concurrent callers on one request or one person", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("links the second of two identical submissions made at once to the first, as it links one made later", async () => {
    t = await new TestService(db()).start();
    const rounds = 12;
    const bad: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const email = `twin${i}@example.com`;
      const [a, b] = await Promise.all([0, 1].map(() => submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "test" })));
      const rows: Array<{ id: string; duplicateOf: string | null }> = await t.ds.query(`SELECT id, duplicateOf FROM requests WHERE id IN (?, ?)`, [a.id, b.id]);
      const originals = rows.filter((r) => r.duplicateOf === null);
      const linked = rows.filter((r) => r.duplicateOf !== null);
      if (originals.length !== 1 || linked[0]?.duplicateOf !== originals[0].id) bad.push(`round ${i}: ${originals.length} originals`);
    }
    expect(bad, `of ${rounds} rounds`).to.deep.equal([]);
  });

  it("lets one of approve, approve and cancel sent at once win: one decision event, tasks planned only when approval won", async () => {
    t = await new TestService(db()).start();
    const bad: string[] = [];
    const wins: Record<string, number> = {};
    for (let i = 0; i < 10; i++) {
      const r = await submit(t, { type: "DELETION", subject: { email: `decided${i}@example.com` }, identityVerified: true, verificationEvidence: "test" });
      const calls = [t.gql(APPROVE, { id: r.id }), t.gql(`mutation($id: ID!) { cancelRequest(id: $id) { id status } }`, { id: r.id }), t.gql(APPROVE, { id: r.id })];
      const results = await Promise.all(calls);
      const won = results.map((x, k) => (x.errors ? null : ["approve", "cancel", "approve"][k])).filter((x): x is string => x !== null);
      const codes = results.filter((x) => x.errors).map((x) => x.errors![0].extensions.code);
      const [{ status }] = await t.ds.query(`SELECT status FROM requests WHERE id = ?`, [r.id]);
      const events: Array<{ action: string }> = await t.ds.query(`SELECT action FROM audit_events WHERE requestId = ? AND action IN ('request.approved', 'request.cancelled', 'request.planned')`, [r.id]);
      const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE requestId = ?`, [r.id]);
      const expected = won[0] === "approve" ? { status: "IN_PROGRESS", events: ["request.approved", "request.planned"], tasks: true } : { status: "CANCELLED", events: ["request.cancelled"], tasks: false };
      wins[won[0]] = (wins[won[0]] ?? 0) + 1;
      const actual = { status, events: events.map((e) => e.action).sort(), tasks: Number(n) > 0 };
      if (won.length !== 1 || codes.some((c) => c !== "CONFLICT") || JSON.stringify(actual) !== JSON.stringify(expected)) bad.push(`round ${i}: won ${won.join(",")}, ${codes.join(",")}, ${JSON.stringify(actual)}`);
    }
    expect(bad, JSON.stringify(wins)).to.deep.equal([]);
  });

  it("fans a person's two requests out once when both are approved at once, whichever approval lands first", async () => {
    t = await new TestService(db()).start();
    const bad: string[] = [];
    for (let i = 0; i < 10; i++) {
      const email = `approved-twice${i}@example.com`;
      const a = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "test" });
      const b = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "test" });
      const order = i % 2 ? [a, b] : [b, a];
      const results = await Promise.all(order.map((r) => t.gql(APPROVE, { id: r.id })));
      const rows: Array<{ id: string; duplicateOf: string | null; n: number }> = await t.ds.query(
        `SELECT r.id, r.duplicateOf, (SELECT COUNT(*) FROM tasks k WHERE k.requestId = r.id) AS n FROM requests r WHERE r.id IN (?, ?)`,
        [a.id, b.id],
      );
      const working = rows.filter((r) => Number(r.n) > 0);
      const following = rows.filter((r) => Number(r.n) === 0);
      if (results.some((x) => x.errors) || working.length !== 1 || following[0]?.duplicateOf !== working[0].id) bad.push(`round ${i} (${i % 2 ? "original" : "duplicate"} first): ${rows.map((r) => `${r.id === a.id ? "a" : "b"} duplicateOf=${r.duplicateOf === a.id ? "a" : r.duplicateOf === b.id ? "b" : "-"} tasks=${r.n}`).join(", ")}`);
    }
    expect(bad).to.deep.equal([]);
  });

  it("makes each of two corrections of one person, not only the first, when the second arrives while the first is at work", async () => {
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
    account.delayMs = 300;
    t = await new TestService(db(), FAST, [account]).start();
    const first = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "Ada King" }], identityVerified: true, verificationEvidence: "test" });
    await t.ok(APPROVE, { id: first.id });
    const second = await submit(t, { type: "CORRECTION", corrections: [{ field: "phone", value: "+442079460958" }], identityVerified: true, verificationEvidence: "test" });
    await t.ok(APPROVE, { id: second.id });
    const ended = await Promise.all([first, second].map((r) => t.waitFor(async () => {
      const x = (await t.ok(`query($id: ID!) { request(id: $id) { id status duplicateOf tasks { step status outcome { changed } } } }`, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "corrections ended", 30_000)));
    const report = JSON.stringify(ended);
    // The system was asked for each change, once; each request says it made its own.
    expect(account.callsOf("rectify"), report).to.have.length(2);
    expect(ended.map((r) => r.tasks.map((x: any) => `${x.step} ${x.status} ${x.outcome?.changed?.join(",")}`)), report).to.deep.equal([["RECTIFY SUCCEEDED name"], ["RECTIFY SUCCEEDED phone"]]);
    expect(ended.map((r) => `${r.status} ${r.duplicateOf}`)).to.deep.equal(["COMPLETED null", "COMPLETED null"]);
    // The same changes asked twice are still answered once.
    const again = await submit(t, { type: "CORRECTION", corrections: [{ field: "phone", value: "+442079460958" }], identityVerified: true, verificationEvidence: "test" });
    const third = await submit(t, { type: "CORRECTION", corrections: [{ field: "phone", value: "+442079460958" }], identityVerified: true, verificationEvidence: "test" });
    expect(third.id).to.not.equal(again.id);
    const [{ duplicateOf }] = await t.ds.query(`SELECT duplicateOf FROM requests WHERE id = ?`, [third.id]);
    expect(duplicateOf).to.equal(again.id);
  });

  it("erases a person once when the settings page asks twice at once with two keys: one request works, the other follows it", async function () {
    this.timeout(120_000);
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
    const rounds = 6;
    for (let i = 0; i < rounds; i++) account.seed(`leaver${i}@example.com`, 3);
    // The first deletion's work takes a while: the second call always arrives while it is open.
    account.delayMs = 300;
    t = await new TestService(db(), FAST, [account]).start();
    const bad: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const email = `leaver${i}@example.com`;
      const answers = await Promise.all(["a", "b"].map(async (k) => (await t.ok(DELETE_ACCOUNT, { input: { idempotencyKey: `settings-${i}-${k}-key`, subject: { email } } }, Role.SERVICE)).requestAccountDeletion));
      const ended = await Promise.all(
        answers.map((a) => t.waitFor(async () => {
          const r = (await t.ok(SHOW, { id: a.id })).request;
          return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
        }, `${a.id} ended`, 30_000)),
      );
      const working = ended.filter((r) => r.tasks.length > 0);
      const followers = ended.filter((r) => r.duplicateOf !== null && r.tasks.length === 0);
      const erased = ended.flatMap((r) => r.deletionOutcome ?? []).reduce((sum: number, line: any) => sum + line.erased, 0);
      const summary = ended.map((r) => `${r.status} tasks=${r.tasks.length} duplicateOf=${r.duplicateOf ? "yes" : "no"} outcome=${JSON.stringify(r.deletionOutcome)}`).join(" | ");
      if (working.length !== 1 || followers.length !== 1 || followers[0].duplicateOf !== working[0].id || ended.some((r) => r.status !== "COMPLETED") || erased !== 3) {
        bad.push(`round ${i}: ${summary}`);
      }
    }
    // Each person's ERASE ran once: one idempotency key reached the system per person.
    expect(bad, `of ${rounds} rounds`).to.deep.equal([]);
    expect(account.effects.size).to.equal(rounds);
  });

  it("lets one of two concurrent retryTask calls re-queue a failed task; the other answers CONFLICT and writes nothing", async function () {
    this.timeout(120_000);
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
    t = await new TestService(db(), FAST, [account]).start();
    const rounds = 6;
    account.script("collect", ...Array.from({ length: rounds + 1 }, () => ({ kind: "fatal" as const })));
    // Each re-queued attempt takes a while to fail again, so both retries land while the task waits or runs.
    account.delayMs = 400;
    const r = await submit(t, { type: "ACCESS", identityVerified: true, verificationEvidence: "test" });
    await t.ok(APPROVE, { id: r.id });
    const outcomes: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const failed = await t.waitFor(async () => {
        const x = (await t.ok(SHOW, { id: r.id })).request;
        return x.status === "FAILED" ? x : undefined;
      }, "FAILED");
      const task = failed.tasks.find((x: any) => x.status === "FAILED");
      const before = await eventsOf(t, "task.retried");
      const results = await Promise.all([t.gql(RETRY, { id: task.id }), t.gql(RETRY, { id: task.id })]);
      const after = await eventsOf(t, "task.retried");
      outcomes.push(`${results.map((x) => (x.errors ? x.errors[0].extensions.code : "ok")).sort().join("+")} task.retried=${after - before}`);
    }
    expect(outcomes.filter((o) => o !== "CONFLICT+ok task.retried=1"), outcomes.join("; ")).to.deep.equal([]);
  });
});

describeEachDatabase("token revocations at once", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("revokes a token once when two operators revoke it at once: one audit event, and both answer the stored time", async () => {
    t = await new TestService(db()).start();
    const bad: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { row } = await createToken(t.ds, t.clock, SYSTEM_ACTOR, { name: `leaked ${i}`, role: Role.ADMIN });
      const answers = await Promise.all([0, 1].map(async (k) => {
        // Two operators, each with a clock of their own: the revocation time is one of theirs.
        const clock = { now: () => new Date(t.clock.now().getTime() + k * 1000) };
        return revokeToken(t.ds, clock as typeof t.clock, SYSTEM_ACTOR, row.id);
      }));
      const [stored] = await t.ds.query(`SELECT revokedAt FROM api_tokens WHERE id = ?`, [row.id]);
      const storedAt = (await t.ds.getRepository(ApiTokenRow).findOneByOrFail({ id: row.id })).revokedAt!.getTime();
      const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'token.revoked' AND details LIKE ?`, [`%${row.id}%`]);
      const answered = answers.map((a) => a.revokedAt!.getTime());
      if (Number(n) !== 1 || answered.some((at) => at !== storedAt)) bad.push(`token ${i}: ${n} token.revoked events, answered ${answered.join(",")}, stored ${JSON.stringify(stored)}`);
    }
    expect(bad).to.deep.equal([]);
  });
});
