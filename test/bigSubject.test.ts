import { monitorEventLoopDelay } from "node:perf_hooks";
import { expect } from "chai";
import { AuthLogConnector, createAuthLogConnector } from "../src/connectors/authLog";
import { BIG_EVENTS, bigAuthLog } from "./support/bigAuthLog";
import { describeEachDatabase } from "./support/databases";
import { keepProbing } from "./support/listening";
import { submit, TestService } from "./support/harness";

describeEachDatabase("a big subject's access request", (db) => {
  let t: TestService;
  let authLog: AuthLogConnector;

  before(async function () {
    this.timeout(120_000);
    const { file } = await bigAuthLog();
    authLog = createAuthLogConnector({ store: "sql", url: `sqlite:${file}` });
    // A short lease: a process that stopped answering for 2 s would lose its own task.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "20", DSR_TASK_LEASE_MS: "2000", DSR_RATE_LIMIT_PER_SECOND: "0" }, [authLog]).start();
  });
  after(async () => {
    await t?.stop();
    await authLog?.close();
  });

  it("collects and exports every event while /healthz and GraphQL keep answering, without losing a lease", async function () {
    this.timeout(180_000);
    const { ada } = await bigAuthLog();
    const id = (await submit(t, { subject: { email: ada.email, userId: ada.userId }, identityVerified: true, verificationEvidence: "the caller checked the user id is hers" })).id;
    const health = new URL("/healthz", t.url).toString();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const probes = [
      keepProbing(async () => (await fetch(health)).arrayBuffer()),
      keepProbing(() => t.ok(`query($id: ID!) { request(id: $id) { status progress { finished total } } }`, { id })),
    ];
    const latencies = { health: probes[0].latencies, graphql: probes[1].latencies };
    const started = Date.now();
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const done = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status tasks { step status attempts } export { records } } }`, { id })).request;
      return r.status === "COMPLETED" || r.status === "FAILED" ? r : undefined;
    }, "request COMPLETED", 150_000);
    const seconds = (Date.now() - started) / 1000;
    await Promise.all(probes.map((p) => p.stop()));
    loop.disable();
    const worst = (xs: number[]) => Math.max(...xs);
    const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)];
    console.log(
      `      ${BIG_EVENTS} events in ${seconds.toFixed(1)} s; event loop p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms; ` +
        `/healthz ${latencies.health.length} answered, p99 ${p99(latencies.health).toFixed(0)} ms, max ${worst(latencies.health).toFixed(0)} ms; ` +
        `GraphQL ${latencies.graphql.length}, p99 ${p99(latencies.graphql).toFixed(0)} ms, max ${worst(latencies.graphql).toFixed(0)} ms`,
    );
    expect(done.status).to.equal("COMPLETED");
    expect(done.export.records).to.equal(BIG_EVENTS);
    // Every task ran once: none lost its lease to a process that stopped answering.
    expect(done.tasks.map((x: any) => [x.step, x.status, x.attempts])).to.deep.equal([
      ["COLLECT", "SUCCEEDED", 1],
      ["EXPORT", "SUCCEEDED", 1],
    ]);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'task.lease_expired'`))[0].n)).to.equal(0);
    // Answered throughout: a service that froze for the collect (as it did) fails these by seconds, not milliseconds.
    expect(latencies.health.length).to.be.greaterThan(seconds * 2);
    expect(worst(latencies.health), "slowest /healthz (ms)").to.be.below(1000);
    expect(worst(latencies.graphql), "slowest GraphQL query (ms)").to.be.below(1500);
    expect(loop.max / 1e6, "longest event-loop stall (ms)").to.be.below(1000);
  });
});
