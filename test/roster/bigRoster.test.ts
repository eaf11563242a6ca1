import { monitorEventLoopDelay } from "node:perf_hooks";
import { expect } from "chai";
import { AuthLogConnector, createAuthLogConnector } from "../../src/connectors/authLog";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { sampleAccountDbConfig } from "../../src/sample/accountDb";
import { samplePeople } from "../../src/sample/people";
import { seedSampleDatabases } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { keepProbing } from "../support/listening";
import { downloadRoster, drawRoster } from "./support";

/** People in the big system: a roster of several seconds, small enough for CI (DSR_TEST_ROSTER_PEOPLE to change). */
const PEOPLE = Number(process.env.DSR_TEST_ROSTER_PEOPLE ?? 10_000);

/** The sample account database and auth log with PEOPLE people of 2 events each; seeded once per test process. */
let seeded: Promise<{ accounts: string; authLog: string }> | undefined;
const bigSystems = () => (seeded ??= seedSampleDatabases(tempDir("dsr-roster-"), samplePeople(PEOPLE).map((p) => ({ ...p, authEventCount: 2 }))));

describeEachDatabase("a breach roster of a big system (invariant 6: the process keeps answering)", (db) => {
  let t: TestService;
  let accounts: SqlConnector;
  let authLog: AuthLogConnector;

  before(async function () {
    this.timeout(120_000);
    const files = await bigSystems();
    accounts = createSqlConnector(sampleAccountDbConfig(), { url: `sqlite:${files.accounts}` });
    authLog = createAuthLogConnector({ store: "sql", url: `sqlite:${files.authLog}` });
    // A short lease: a process that stopped answering for 2 s would lose its own roster and draw it again.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "20", DSR_TASK_LEASE_MS: "2000", DSR_RATE_LIMIT_PER_SECOND: "0" }, [accounts, authLog]).start();
  });
  after(async () => {
    await t?.stop();
    await accounts?.close();
    await authLog?.close();
  });

  it("lists every person of the auth log, joined to the account database, while /healthz and GraphQL keep answering", async function () {
    this.timeout(180_000);
    const health = new URL("/healthz", t.url).toString();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const probes = [keepProbing(async () => (await fetch(health)).arrayBuffer()), keepProbing(() => t.ok(`{ breachRosters(first: 1) { status people } }`))];
    const latencies = { health: probes[0].latencies, graphql: probes[1].latencies };
    const started = Date.now();
    const roster = await drawRoster(t, ["auth-log"], 150_000);
    const seconds = (Date.now() - started) / 1000;
    await Promise.all(probes.map((p) => p.stop()));
    loop.disable();
    const worst = (xs: number[]) => Math.max(...xs);
    console.log(
      `      ${PEOPLE} people in ${seconds.toFixed(1)} s; event loop p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms; ` +
        `/healthz ${latencies.health.length} answered, max ${worst(latencies.health).toFixed(0)} ms; GraphQL ${latencies.graphql.length}, max ${worst(latencies.graphql).toFixed(0)} ms`,
    );
    // Drawn once: no attempt lost its claim to a process that stopped answering.
    expect([roster.status, roster.attempts, roster.complete, roster.people, roster.withoutEmail]).to.deep.equal(["COMPLETED", 1, true, PEOPLE, 0]);
    expect(roster.systems.map((s: any) => [s.connector, s.role, s.people, s.records])).to.deep.equal([
      ["auth-log", "BREACHED", PEOPLE, 2 * PEOPLE],
      ["account-db", "CONTACTS", PEOPLE, null],
    ]);
    expect((await downloadRoster(t, roster.id)).lines.filter((l) => l.emails && l.records === "2")).to.have.length(PEOPLE);
    // Answered throughout: a service that froze for the listing fails these by seconds, not milliseconds.
    expect(latencies.health.length).to.be.greaterThan(seconds * 2);
    expect(worst(latencies.health), "slowest /healthz (ms)").to.be.below(1000);
    expect(worst(latencies.graphql), "slowest GraphQL query (ms)").to.be.below(1500);
    expect(loop.max / 1e6, "longest event-loop stall (ms)").to.be.below(1000);
  });
});
