import { generateKeyPairSync } from "node:crypto";
import { forcedGc } from "./support/forcedGc";
import { expect } from "chai";
import { ConfigError, loadConfig } from "../src/config/env";
import { verifyStatusCallback } from "../src/callbacks/verify";
import { Role } from "../src/domain/enums";
import { StatusCallbackRow } from "../src/entities";
import { signPayload } from "../src/signing";
import { describeEachDatabase } from "./support/databases";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const BASE_MS = 1000;
const FAST = {
  DSR_WORKER_CONCURRENCY: "2",
  DSR_WORKER_POLL_MS: "10",
  DSR_TASK_LEASE_MS: "2000",
  DSR_CALLBACK_SECRET: CALLBACK_SECRET,
  DSR_CALLBACK_POLL_MS: "20",
  DSR_CALLBACK_RETRY_BASE_MS: String(BASE_MS),
  DSR_CALLBACK_RETRY_MAX_MS: String(8 * BASE_MS),
};
const DELETE = `mutation($input: RequestAccountDeletionInput!) {
  requestAccountDeletion(input: $input) { id type status source idempotencyKey duplicateOf subject { email userId } verification { method evidence verifiedAt } }
}`;
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status } auditEvents { action actor { role } details } } }`;

describeEachDatabase("account deletion from settings", (db) => {
  let t: TestService;
  let receiver: CallbackReceiver;
  let account: ScriptedConnector;
  let payments: ScriptedConnector;

  async function start(env: Record<string, string> = {}) {
    account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 3);
    payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seed(ADA, 2);
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...FAST, DSR_CALLBACK_URL: receiver.url, ...env }, [account, payments]).start();
    await t.ds.query("DELETE FROM status_callbacks");
  }
  afterEach(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  const trigger = async (key: string, subject: Record<string, unknown> = { email: ADA, userId: "u-1" }, as: Role = Role.SERVICE) =>
    (await t.ok(DELETE, { input: { idempotencyKey: key, subject } }, as)).requestAccountDeletion;
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  const until = (id: string, status: string) => t.waitFor(async () => ((await show(id)).status === status ? true : undefined), `request ${status}`);
  const outbox = (id: string) => t.ds.query(`SELECT status, attempts, nextAttemptAt, claimedBy, lastError FROM status_callbacks WHERE requestId = ? ORDER BY requestVersion`, [id]);
  const acceptedFor = (id: string) => receiver.accepted.filter((e) => e.requestId === id).map((e) => `${e.previousStatus}->${e.status}`);

  it("creates one SETTINGS deletion, verified by the session and approved at once through the normal lifecycle", async () => {
    await start({ DSR_WORKER_CONCURRENCY: "0" });
    const r = await trigger("settings-key-0001");
    expect(r).to.deep.include({ type: "DELETION", status: "IN_PROGRESS", source: "SETTINGS", idempotencyKey: "settings-key-0001", duplicateOf: null });
    expect(r.subject).to.deep.equal({ email: ADA, userId: "u-1" });
    expect(r.verification).to.include({ method: "SESSION", evidence: "authenticated account settings session" });
    const shown = await show(r.id);
    expect(shown.tasks.map((x: any) => `${x.connector}:${x.step}`).sort()).to.deep.equal(["account-db:COLLECT", "account-db:ERASE", "payments:COLLECT", "payments:ERASE"]);
    const events = shown.auditEvents.map((e: any) => `${e.action}:${e.actor.role}`);
    expect(events).to.deep.equal(["request.submitted:SERVICE", "request.approved:SERVICE", "request.planned:SERVICE"]);
    expect(shown.auditEvents[0].details).to.include({ source: "SETTINGS", verification: "SESSION", status: "PENDING_APPROVAL" });
    expect(shown.auditEvents[1].details).to.include({ from: "PENDING_APPROVAL", to: "IN_PROGRESS" });
  });

  it("answers the same key with the same request, never a second one; a key reused for another subject, or other identities of one, is CONFLICT", async () => {
    await start({ DSR_WORKER_CONCURRENCY: "0" });
    const first = await trigger("settings-key-0002");
    for (let i = 0; i < 3; i++) expect((await trigger("settings-key-0002")).id).to.equal(first.id);
    expect(await t.count("requests")).to.equal(1);
    const other = await t.gql(DELETE, { input: { idempotencyKey: "settings-key-0002", subject: { email: "grace.hopper@example.com" } } }, Role.SERVICE);
    expect(other.errors!.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
    const bad = await t.gql(DELETE, { input: { idempotencyKey: "short", subject: { email: ADA } } }, Role.SERVICE);
    expect(bad.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
    // A new key is a new request, which follows the open one instead of erasing twice.
    const second = await trigger("settings-key-0003");
    expect(second.id).not.to.equal(first.id);
    expect(second.duplicateOf).to.equal(first.id);
    expect(await t.count("requests")).to.equal(2);
    // Every identity of the subject counts: the first request never reached what another phone or external id leads to.
    const withIds = await trigger("settings-key-0004", { email: ADA, userId: "u-1", phone: "+44 20 7946 0000", externalIds: [{ system: "crm", id: "c-1" }, { system: "billing", id: "b-1" }] });
    const respelled = await trigger("settings-key-0004", { email: " Ada.Lovelace@Example.com", userId: "u-1", phone: "+442079460000", externalIds: [{ system: "billing", id: "b-1" }, { system: "crm", id: "c-1" }] });
    expect(respelled.id, "the same subject, spelled otherwise").to.equal(withIds.id);
    for (const subject of [
      { email: ADA, userId: "u-1", phone: "+44 20 7946 0001", externalIds: [{ system: "crm", id: "c-1" }, { system: "billing", id: "b-1" }] },
      { email: ADA, userId: "u-1", phone: "+44 20 7946 0000", externalIds: [{ system: "crm", id: "c-2" }, { system: "billing", id: "b-1" }] },
      { email: ADA, userId: "u-1", phone: "+44 20 7946 0000", externalIds: [{ system: "crm", id: "c-1" }] },
      { email: ADA, userId: "u-1" },
    ]) {
      const reused = await t.gql(DELETE, { input: { idempotencyKey: "settings-key-0004", subject } }, Role.SERVICE);
      expect(reused.errors?.map((e) => e.extensions.code), JSON.stringify(subject)).to.deep.equal(["CONFLICT"]);
    }
    expect(await t.count("requests")).to.equal(3);
  });

  it("refuses a retry of a key whose identities cannot be read as BAD_USER_INPUT naming the field, as a first call with them, never answering with the stored request", async () => {
    await start({ DSR_WORKER_CONCURRENCY: "0" });
    const first = await trigger("settings-key-0005");
    const before = [await t.count("requests"), await t.count("audit_events")];
    for (const [subject, field] of [
      [{ email: ADA, userId: "u-1", phone: "call me maybe" }, "subject.phone"],
      [{ email: ADA, userId: "u-1", externalIds: [{ system: "crm", id: "c-1" }, { system: "crm", id: "c-2" }] }, "subject.externalIds"],
    ] as const) {
      const fresh = await t.gql(DELETE, { input: { idempotencyKey: "settings-key-0006", subject } }, Role.SERVICE);
      const retry = await t.gql(DELETE, { input: { idempotencyKey: "settings-key-0005", subject } }, Role.SERVICE);
      for (const res of [fresh, retry]) {
        expect(res.data?.requestAccountDeletion ?? null, `${field}: no request answered`).to.equal(null);
        expect(res.errors!.map((e) => e.extensions.code), field).to.deep.equal(["BAD_USER_INPUT"]);
        expect((res.errors![0].extensions.fields as { field: string }[]).map((f) => f.field), field).to.include(field);
        expect(JSON.stringify(res.errors), "echoes nothing").not.to.include("call me maybe");
      }
    }
    expect([await t.count("requests"), await t.count("audit_events")], "changed nothing").to.deep.equal(before);
    expect((await trigger("settings-key-0005")).id).to.equal(first.id);
  });

  it("gives concurrent calls with one key one request", async () => {
    await start({ DSR_WORKER_CONCURRENCY: "0" });
    const answers = await Promise.all(Array.from({ length: 8 }, () => trigger("settings-key-race")));
    expect(new Set(answers.map((a) => a.id)).size).to.equal(1);
    expect(await t.count("requests")).to.equal(1);
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'request.approved'`);
    expect(Number(n)).to.equal(1);
  });

  it("deletes a minor's data at once, keeping only what a legal obligation requires; a key first used without the minor flag is CONFLICT with it", async () => {
    const logins = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"] });
    account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 3);
    payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] });
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...FAST, DSR_CALLBACK_URL: receiver.url }, [account, payments, logins]).start();
    const now = t.clock.now().getTime();
    logins.seedDated(ADA, [new Date(now - 86_400_000), new Date(now - 2 * 86_400_000)]);
    payments.seedDated(ADA, [new Date(now - 86_400_000)]);
    const MINOR = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id status concernsMinor duplicateOf } }`;
    const r = (await t.ok(MINOR, { input: { idempotencyKey: "settings-minor-1", subject: { email: ADA }, concernsMinor: true } }, Role.SERVICE)).requestAccountDeletion;
    expect(r).to.include({ concernsMinor: true, duplicateOf: null });
    await until(r.id, "COMPLETED");
    // The systems: the account is gone (terminated), the logins too (90 days of security monitoring is a
    // legitimate interest, which does not keep a minor's data); the payment stays under tax law.
    expect(account.data.get(ADA) ?? []).to.deep.equal([]);
    expect(logins.data.get(ADA) ?? []).to.deep.equal([]);
    expect(payments.data.get(ADA)).to.have.length(1);
    // The settings page is told that something was kept (how many records, no more), so it does not say "all deleted".
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "two callbacks");
    expect(receiver.accepted.find((e) => e.requestId === r.id && e.status === "COMPLETED")).to.deep.include({ keptRecords: 1, residualRecords: 0 });
    const [{ priority }] = await t.ds.query(`SELECT MIN(priority) AS priority FROM tasks WHERE requestId = ?`, [r.id]);
    expect(Number(priority), "claimed before other requests").to.equal(10);
    // The same key answers the same request, with or without the flag.
    expect((await t.ok(MINOR, { input: { idempotencyKey: "settings-minor-1", subject: { email: ADA } } }, Role.SERVICE)).requestAccountDeletion.id).to.equal(r.id);
    // A key whose deletion was not about a minor cannot answer for one: it kept what a minor's would erase.
    const GRACE = "grace.hopper@example.com";
    const adult = (await t.ok(MINOR, { input: { idempotencyKey: "settings-minor-2", subject: { email: GRACE } } }, Role.SERVICE)).requestAccountDeletion;
    expect(adult.concernsMinor).to.equal(false);
    const refused = await t.gql(MINOR, { input: { idempotencyKey: "settings-minor-2", subject: { email: GRACE }, concernsMinor: true } }, Role.SERVICE);
    expect(refused.errors?.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
    expect(refused.errors![0].message).not.to.include(GRACE);
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE subjectEmail = ?`, [GRACE]);
    expect(Number(n), "nothing stored").to.equal(1);
    // Racing calls with one key, some with the flag and some without: one request; a call with the flag
    // is answered with it only when it is a minor's, otherwise CONFLICT.
    const HOPPER = { email: "katherine.johnson@example.com" };
    const raced = await Promise.all([true, false, true, false, true, false].map((concernsMinor) => t.gql(MINOR, { input: { idempotencyKey: "settings-minor-race", subject: HOPPER, concernsMinor } }, Role.SERVICE).then((a) => ({ concernsMinor, a }))));
    const rows = await t.ds.query(`SELECT id, concernsMinor FROM requests WHERE idempotencyKey = 'settings-minor-race'`);
    expect(rows).to.have.length(1);
    const winnerMinor = Boolean(Number(rows[0].concernsMinor));
    for (const { concernsMinor, a } of raced) {
      if (concernsMinor && !winnerMinor) expect(a.errors?.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
      else expect(a.data!.requestAccountDeletion.id).to.equal(rows[0].id);
    }
  });

  it("erases nothing an access request received before it has still to collect: the copy holds what the deletion then erases", async () => {
    await start();
    payments.seed(ADA, 3);
    // The access request's first collect from the payment system meets a busy system and is retried later.
    payments.script("collect", { kind: "retryable", retryAfterMs: 1000 });
    const access = (await t.ok(`mutation { submitRequest(input: { type: ACCESS, subject: { email: "${ADA}" }, identityVerified: true, verificationEvidence: "signed-in session" }) { id } }`)).submitRequest;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access.id });
    await t.waitFor(async () => (payments.callsOf("collect").length ? true : undefined), "the access request's first collect");
    const r = await trigger("settings-key-access");
    const TASKS = `query($id: ID!) { request(id: $id) { status tasks { connector step status lastError outcome { records erased } } } }`;
    const ended = (id: string) =>
      t.waitFor(async () => {
        t.clock.advance(5_000);
        const x = (await t.ok(TASKS, { id })).request;
        return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
      }, "ended", 30_000);
    const [copy, deletion] = [await ended(access.id), await ended(r.id)];
    const step = (x: any, connector: string, name: string) => x.tasks.find((task: any) => task.connector === connector && task.step === name);
    expect(copy.status).to.equal("COMPLETED");
    expect(step(copy, "payments", "COLLECT").outcome.records, "the copy holds the 3 payments").to.equal(3);
    expect(deletion.status).to.equal("COMPLETED");
    expect(step(deletion, "payments", "ERASE").outcome.erased).to.equal(3);
    expect(payments.data.get(ADA) ?? []).to.deep.equal([]);
    // The payment system was erased only after the access request's last collect from it.
    const [{ idempotencyKey }] = await t.ds.query(`SELECT idempotencyKey FROM tasks WHERE requestId = ? AND connector = 'payments' AND step = 'COLLECT'`, [access.id]);
    const lastCollect = payments.callsOf("collect").filter((c) => c.idempotencyKey === idempotencyKey).at(-1)!.wallMs;
    expect(payments.callsOf("erase")[0].wallMs).to.be.greaterThan(lastCollect);
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE requestId = ? AND action = 'task.deferred'`, [r.id]);
    expect(Number(n), "the wait is in the audit trail").to.be.greaterThan(0);
  });

  it("POSTs a signed callback for each status change, in order, with no personal data", async () => {
    await start();
    const r = await trigger("settings-key-0004");
    await until(r.id, "COMPLETED");
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "two callbacks");
    expect(acceptedFor(r.id)).to.deep.equal(["PENDING_APPROVAL->IN_PROGRESS", "IN_PROGRESS->COMPLETED"]);
    const last = receiver.accepted[1];
    expect(last).to.deep.include({ type: "request.status_changed", requestId: r.id, idempotencyKey: "settings-key-0004", requestType: "DELETION", statusReason: null, keptRecords: 0, residualRecords: 0 });
    expect(receiver.accepted[0]).not.to.have.property("keptRecords");
    expect(receiver.deliveries.every((d) => !d.body.includes(ADA) && !d.body.includes("u-1"))).to.equal(true);
    expect(receiver.deliveries.map((d) => d.eventId)).to.deep.equal(receiver.accepted.map((e) => e.id));
    expect(receiver.refused).to.deep.equal([]);
    await t.waitFor(async () => ((await outbox(r.id)).every((row: any) => row.status === "DELIVERED") ? true : undefined), "outbox delivered");
  });

  it("calls back FAILED with the reason, and an admin-submitted deletion gets no callbacks", async () => {
    await start();
    payments.script("erase", { kind: "fatal" });
    const r = await trigger("settings-key-0005");
    await until(r.id, "FAILED");
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "two callbacks");
    expect(receiver.accepted[1]).to.include({ status: "FAILED", statusReason: "1 task(s) failed: payments ERASE: The system refused the request" });
    const admin = (await t.ok(`mutation { submitRequest(input: { type: DELETION, subject: { email: "grace.hopper@example.com" }, identityVerified: true, verificationEvidence: "id card" }) { id } }`)).submitRequest;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: admin.id });
    await until(admin.id, "COMPLETED");
    expect(await outbox(admin.id)).to.deep.equal([]);
  });

  it("retries a receiver that fails the first times, with capped exponential backoff and jitter, and delivers in order later", async () => {
    await start();
    receiver.failNext = 4;
    const r = await trigger("settings-key-0006");
    await until(r.id, "COMPLETED");
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const row = await t.waitFor(async () => {
        const [head] = await outbox(r.id);
        return head.attempts === attempt && head.claimedBy === null ? head : undefined;
      }, `attempt ${attempt}`);
      expect(row.lastError).to.equal("receiver answered HTTP 503");
      const delay = new Date(row.nextAttemptAt).getTime() - t.clock.now().getTime();
      delays.push(delay);
      const full = Math.min(8 * BASE_MS, BASE_MS * 2 ** (attempt - 1));
      expect(delay, `delay after attempt ${attempt}`).to.be.within(full / 2, full);
      // Nothing is sent before its time, and the later change waits behind the earlier one.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(receiver.deliveries.length).to.equal(attempt);
      t.clock.advance(delay);
    }
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "both callbacks");
    expect(acceptedFor(r.id)).to.deep.equal(["PENDING_APPROVAL->IN_PROGRESS", "IN_PROGRESS->COMPLETED"]);
    expect(receiver.deliveries.filter((d) => d.eventId === receiver.accepted[0].id).map((d) => d.answered)).to.deep.equal([503, 503, 503, 503, 204]);
    // The receiver has answered; the dispatcher's mark commits just after (its own statement).
    const marked = await t.waitFor(async () => {
      const rows = (await outbox(r.id)).map((row: any) => [row.status, row.attempts]);
      return rows.every(([status]: string[]) => status === "DELIVERED") ? rows : undefined;
    }, "both callbacks marked delivered");
    expect(marked).to.deep.equal([["DELIVERED", 5], ["DELIVERED", 1]]);
  });

  it("loses no callback across a restart while the receiver is down", async () => {
    await start();
    receiver.down = true;
    const r = await trigger("settings-key-0007");
    await until(r.id, "COMPLETED");
    await t.waitFor(async () => ((await outbox(r.id))[0]?.attempts >= 1 ? true : undefined), "a failed attempt");
    expect((await outbox(r.id)).map((row: any) => row.status)).to.deep.equal(["PENDING", "PENDING"]);
    await t.restart();
    receiver.down = false;
    t.clock.advance(60_000);
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "callbacks after the restart");
    expect(acceptedFor(r.id)).to.deep.equal(["PENDING_APPROVAL->IN_PROGRESS", "IN_PROGRESS->COMPLETED"]);
  });

  it("hands a delivery in flight back when the service stops, and takes over a claim a crashed process left", async () => {
    await start();
    receiver.hang = true;
    const r = await trigger("settings-key-0009");
    await t.waitFor(async () => ((await outbox(r.id))[0]?.claimedBy ? true : undefined), "delivery in flight");
    // Shutdown stops the dispatcher before the database closes; stop it alone to look at what it left.
    await t.service.callbacks!.stop();
    const [handedBack] = await outbox(r.id);
    expect(handedBack).to.include({ status: "PENDING", attempts: 0, claimedBy: null, lastError: "dispatcher stopped during delivery" });
    // A process that crashed mid-delivery leaves its claim; it runs out like a lease, and another dispatcher takes the row.
    const expiry = new Date(t.clock.now().getTime() + 15_000);
    await t.ds.getRepository(StatusCallbackRow).update({ requestId: r.id }, { claimedBy: "crashed-host:1:dead", nextAttemptAt: expiry });
    receiver.hang = false;
    await t.restart();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(acceptedFor(r.id)).to.deep.equal([]);
    t.clock.advance(15_001);
    await until(r.id, "COMPLETED");
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "callbacks after the claim expired");
    expect(acceptedFor(r.id)).to.deep.equal(["PENDING_APPROVAL->IN_PROGRESS", "IN_PROGRESS->COMPLETED"]);
  });

  it("gives up on a receiver that never answers after DSR_CALLBACK_TIMEOUT_MS, even when the garbage collector runs meanwhile, and delivers later", async () => {
    // Node 20 holds a timeout signal inside AbortSignal.any only weakly: collected, it never fired, and
    // the delivery (and its claim) waited for good. Full collections while the POST is unanswered make that certain.
    const collect = forcedGc();
    await start({ DSR_CALLBACK_TIMEOUT_MS: "1500" });
    receiver.hang = true;
    const r = await trigger("settings-key-0010");
    await t.waitFor(async () => (receiver.hung >= 1 ? true : undefined), "a delivery in flight");
    for (let i = 0; i < 3; i++) collect();
    const [gaveUp] = await t.waitFor(async () => {
      const rows = await outbox(r.id);
      return rows[0]?.attempts >= 1 ? rows : undefined;
    }, "a delivery given up on", 10_000);
    expect(gaveUp).to.include({ status: "PENDING", claimedBy: null, lastError: "delivery failed: the receiver did not answer within 1500 ms (DSR_CALLBACK_TIMEOUT_MS)" });
    receiver.hang = false;
    await until(r.id, "COMPLETED");
    t.clock.advance(60_000);
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "callbacks once the receiver answers");
  });

  it("gives receivers a verifier that refuses a wrong secret, a changed byte and an old timestamp", async () => {
    await start();
    const r = await trigger("settings-key-0008");
    await until(r.id, "COMPLETED");
    await t.waitFor(async () => (acceptedFor(r.id).length === 2 ? true : undefined), "callbacks");
    const { body, signature } = receiver.deliveries[1];
    const now = t.clock.now();
    expect(verifyStatusCallback(CALLBACK_SECRET, signature, body, now)).to.deep.include({ ok: true });
    expect(verifyStatusCallback("another-secret-0123456789", signature, body, now)).to.deep.equal({ ok: false, reason: "signature does not match the body" });
    for (let i = 0; i < body.length; i += 7) {
      const changed = body.slice(0, i) + (body[i] === "a" ? "b" : "a") + body.slice(i + 1);
      expect(verifyStatusCallback(CALLBACK_SECRET, signature, changed, now).ok, `byte ${i} changed`).to.equal(false);
    }
    expect(verifyStatusCallback(CALLBACK_SECRET, signature, body, new Date(now.getTime() + 301_000))).to.deep.equal({ ok: false, reason: "signature timestamp outside the tolerance window" });
    const old = signPayload(CALLBACK_SECRET, body, new Date(now.getTime() - 6 * 60_000));
    expect(verifyStatusCallback(CALLBACK_SECRET, old, body, now).ok).to.equal(false);
    expect(verifyStatusCallback(CALLBACK_SECRET, undefined, body, now).ok).to.equal(false);
  });
});

describe("callback and certificate settings", () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ NODE_ENV: "test", ...env });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it("requires a callback secret of at least 16 characters with DSR_CALLBACK_URL, and an http(s) URL", () => {
    expect(problems({ DSR_CALLBACK_URL: "https://settings.example.com/dsr" })).to.include("DSR_CALLBACK_SECRET is required when DSR_CALLBACK_URL is set");
    expect(problems({ DSR_CALLBACK_URL: "https://settings.example.com/dsr", DSR_CALLBACK_SECRET: "short" })).to.deep.equal(["DSR_CALLBACK_SECRET must be at least 16 characters"]);
    expect(problems({ DSR_CALLBACK_URL: "ftp://x", DSR_CALLBACK_SECRET: CALLBACK_SECRET })).to.deep.equal(["DSR_CALLBACK_URL must be an http(s) URL"]);
    expect(problems({ DSR_CALLBACK_URL: "http://127.0.0.1:9/cb", DSR_CALLBACK_SECRET: CALLBACK_SECRET })).to.deep.equal([]);
  });

  it("accepts an Ed25519 PEM (also with escaped newlines) as DSR_CERTIFICATE_PRIVATE_KEY and names what is wrong with anything else", () => {
    const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(problems({ DSR_CERTIFICATE_PRIVATE_KEY: pem })).to.deep.equal([]);
    expect(problems({ DSR_CERTIFICATE_PRIVATE_KEY: pem.replace(/\n/g, "\\n") })).to.deep.equal([]);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(problems({ DSR_CERTIFICATE_PRIVATE_KEY: rsa })).to.deep.equal(["DSR_CERTIFICATE_PRIVATE_KEY must be an Ed25519 key, not rsa"]);
    expect(problems({ DSR_CERTIFICATE_PRIVATE_KEY: "not a key" })[0]).to.match(/^DSR_CERTIFICATE_PRIVATE_KEY must be an Ed25519 private key in PEM/);
  });
});
