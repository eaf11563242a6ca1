import { expect } from "chai";
import { sealCheckpoint } from "../src/audit/checkpointer";
import { recordExportBytes } from "../src/metrics";
import { describeEachDatabase } from "./support/databases";
import { parseMetrics } from "./support/metrics";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "600", DSR_RETRY_BASE_MS: "1", DSR_RETRY_MAX_MS: "5", DSR_TASK_MAX_ATTEMPTS: "2" };
const METRICS_TOKEN = "metrics-scraper-token-0123456789";

/** Prometheus text format, parsed: `name{a="x",b="y"}` -> value. */
async function scrapeMetrics(t: TestService, token: string | null = METRICS_TOKEN): Promise<Map<string, number>> {
  const res = await fetch(t.url.replace(/\/graphql$/, "/metrics"), { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).to.equal(200);
  expect(res.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

const value = (metrics: Map<string, number>, key: string) => metrics.get(key) ?? 0;

describeEachDatabase("metrics", (db) => {
  let t: TestService;
  const account = new ScriptedConnector({ name: "metrics-account" }).seed("grace.hopper@example.com", 3);
  before(async () => {
    // Only the tests seal checkpoints: a timed one (every 60 s by default) landing mid-case, on a slow
    // run, would seal part of what a case counts as unsealed.
    t = await new TestService(db(), { ...FAST, DSR_METRICS_TOKEN: METRICS_TOKEN, DSR_AUDIT_CHECKPOINT_SECONDS: "0" }, [account]).start();
  });
  after(async () => {
    await t.stop();
  });

  it("needs the metrics token when DSR_METRICS_TOKEN is set", async () => {
    const url = t.url.replace(/\/graphql$/, "/metrics");
    expect((await fetch(url)).status).to.equal(401);
    expect((await fetch(url, { headers: { authorization: "Bearer not-the-metrics-token-at-all" } })).status).to.equal(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${t.tokens.ADMIN}` } })).status, "an API token is not the metrics token").to.equal(401);
  });

  it("counts requests by type and status from the database, and the overdue ones", async () => {
    await submit(t, { type: "ACCESS", subject: { email: "one@example.com" } });
    await submit(t, { type: "ACCESS", subject: { email: "two@example.com" } });
    await submit(t, { type: "DELETION", subject: { email: "three@example.com" }, identityVerified: true, verificationEvidence: "test" });
    let m = await scrapeMetrics(t);
    expect(value(m, 'dsr_requests{type="ACCESS",status="PENDING_VERIFICATION"}')).to.equal(2);
    expect(value(m, 'dsr_requests{type="DELETION",status="PENDING_APPROVAL"}')).to.equal(1);
    expect(value(m, "dsr_requests_overdue")).to.equal(0);
    t.clock.advance(31 * 24 * 3600_000);
    m = await scrapeMetrics(t);
    expect(value(m, "dsr_requests_overdue")).to.equal(3);
  });

  it("counts status callbacks the receiver has not acknowledged, and the age of the oldest, from the outbox", async () => {
    // No DSR_CALLBACK_URL: the settings page's callbacks wait in the outbox (docs/settings-trigger.md).
    const { requestAccountDeletion } = await t.ok(`mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`, { input: { idempotencyKey: "del-metrics-1", subject: { email: "grace.hopper@example.com" } } }, "SERVICE");
    const pending = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM status_callbacks WHERE status = 'PENDING'`))[0].n);
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: requestAccountDeletion.id })).request.status === "COMPLETED" ? true : undefined), "the deletion completed");
    const rows = await pending();
    expect(rows).to.be.at.least(2);
    t.clock.advance(3600_000);
    const m = await scrapeMetrics(t);
    expect(value(m, "dsr_status_callbacks_pending")).to.equal(rows);
    expect(value(m, "dsr_status_callbacks_oldest_pending_seconds")).to.be.within(3600, 3700);
    await t.ds.query(`UPDATE status_callbacks SET status = 'DELIVERED'`);
    const after = await scrapeMetrics(t);
    expect([value(after, "dsr_status_callbacks_pending"), value(after, "dsr_status_callbacks_oldest_pending_seconds")]).to.deep.equal([0, 0]);
  });

  it("observes task attempts, durations and failures per connector, and GraphQL latency per operation", async () => {
    const before = await scrapeMetrics(t);
    account.script("collect", { kind: "retryable" });
    const r = await submit(t, { type: "ACCESS", subject: { email: "grace.hopper@example.com" }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation Approve($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => {
      t.clock.advance(1000); // the retry is due on the service's (manual) clock
      const { request } = await t.ok(`query Watch($id: ID!) { request(id: $id) { status } }`, { id: r.id });
      return request.status === "COMPLETED" ? true : undefined;
    }, "request COMPLETED");
    const after = await scrapeMetrics(t);
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(delta('dsr_task_attempts_total{connector="metrics-account",step="COLLECT"}')).to.equal(2);
    expect(delta('dsr_task_failures_total{connector="metrics-account",step="COLLECT",retryable="true"}')).to.equal(1);
    expect(delta('dsr_task_duration_seconds_count{connector="metrics-account",step="COLLECT"}')).to.equal(2);
    expect(delta('dsr_graphql_operation_duration_seconds_count{operation="Approve",outcome="OK"}')).to.equal(1);
    expect(delta('dsr_graphql_operation_duration_seconds_count{operation="Watch",outcome="OK"}')).to.be.at.least(1);
    const failed = await t.gql(`query Missing { request(id: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc") { id } }`);
    expect(failed.errors![0].extensions.code).to.equal("NOT_FOUND");
    const last = await scrapeMetrics(t);
    expect(value(last, 'dsr_graphql_operation_duration_seconds_count{operation="Missing",outcome="NOT_FOUND"}') - value(after, 'dsr_graphql_operation_duration_seconds_count{operation="Missing",outcome="NOT_FOUND"}')).to.equal(1);
  });

  it("counts the tasks its workers took by claim and by hand-off: an EXPORT goes to the worker whose COLLECT released it", async () => {
    const before = await scrapeMetrics(t);
    const r = await submit(t, { type: "ACCESS", subject: { email: "grace.hopper@example.com" }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation Approve($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const tasks = await t.waitFor(async () => {
      const { request } = await t.ok(`query Watch($id: ID!) { request(id: $id) { status tasks { step status attempts } } }`, { id: r.id });
      return request.status === "COMPLETED" ? (request.tasks as Array<{ step: string; status: string; attempts: number }>) : undefined;
    }, "request COMPLETED");
    // An attempt is counted when it ends, just after its completion commits: the request can read
    // COMPLETED a moment before the EXPORT's attempt is counted.
    const exportAttempts = 'dsr_task_attempts_total{connector="export",step="EXPORT"}';
    const after = await t.waitFor(async () => {
      const m = await scrapeMetrics(t);
      return value(m, exportAttempts) > value(before, exportAttempts) ? m : undefined;
    }, "the EXPORT's attempt counted");
    const delta = (key: string) => value(after, key) - value(before, key);
    // One worker, two slots: the COLLECT's completion leaves both free, and claims the EXPORT it releases.
    expect(tasks.map((x) => `${x.step}:${x.status}:${x.attempts}`).sort()).to.deep.equal(["COLLECT:SUCCEEDED:1", "EXPORT:SUCCEEDED:1"]);
    expect(delta('dsr_tasks_claimed_total{by="claim"}')).to.equal(1);
    expect(delta('dsr_tasks_claimed_total{by="hand-off"}')).to.equal(1);
    expect(delta(exportAttempts)).to.equal(1);
    expect((await t.ok(`{ verifyAuditTrail(full: true) { ok } }`)).verifyAuditTrail.ok).to.equal(true);
  });

  it("shows the audit events no checkpoint has sealed yet, and the age of the newest checkpoint", async () => {
    await t.waitFor(async () => ((await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE status IN ('PENDING', 'RUNNING')`))[0].n == 0 ? true : undefined), "no task at work");
    // Sealed until the gauge reads 0: on a loaded run an event of the earlier cases' work (a sweeper's,
    // an attempt's end) can still land after a seal, and the next seal takes it in.
    const sealAll = () =>
      t.waitFor(async () => {
        await sealCheckpoint(t.service.services);
        const m = await scrapeMetrics(t);
        return value(m, "dsr_audit_unsealed_events") === 0 ? m : undefined;
      }, "every event sealed");
    const sealed = await sealAll();
    expect(value(sealed, "dsr_audit_last_checkpoint_age_seconds")).to.be.within(0, 30);
    const r = await submit(t, { type: "ACCESS", subject: { email: "unsealed@example.com" } });
    // The request's events, each counted unsealed (the code's delivery is recorded after submitRequest answers).
    const [written, counted] = await t.waitFor(async () => {
      const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { seq } }`, { id: r.id })).auditEvents.length;
      const [head] = await t.ds.query(`SELECT seq, sealedSeq FROM audit_stream_heads WHERE unsealed = 1 AND stream = ?`, [r.id]);
      const gauge = value(await scrapeMetrics(t), "dsr_audit_unsealed_events");
      return events > 0 && head && Number(head.seq) - Number(head.sealedSeq) === events && gauge >= events ? [events, gauge] : undefined;
    }, "the request's events counted unsealed");
    expect(written).to.be.greaterThan(0);
    expect(counted).to.be.at.least(written);
    await sealAll();
  });

  it("counts export bytes reported by the export code", async () => {
    const before = value(await scrapeMetrics(t), 'dsr_export_bytes_total{storage="s3"}');
    recordExportBytes(4096, "s3");
    recordExportBytes(-1, "s3");
    expect(value(await scrapeMetrics(t), 'dsr_export_bytes_total{storage="s3"}') - before).to.equal(4096);
  });

  it("bounds operation names chosen by clients", async () => {
    await t.gql(`query ${"X".repeat(80)} { viewer { role } }`);
    const m = await scrapeMetrics(t);
    expect([...m.keys()].some((k) => k.includes("X".repeat(80)))).to.equal(false);
    expect(value(m, 'dsr_graphql_operation_duration_seconds_count{operation="other",outcome="OK"}')).to.be.at.least(1);
  });
});
