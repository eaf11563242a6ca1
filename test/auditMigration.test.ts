import { createHash } from "node:crypto";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { loadConfig } from "../src/config/env";
import { dataSourceOptions } from "../src/db/dataSource";
import { MIGRATIONS } from "../src/migrations";
import { startService } from "../src/server";
import { runDsr } from "./support/auditTools";
import { createMariadbDatabase, createSqliteDatabase, describeEachDatabase, tempDir, TestDatabase } from "./support/databases";

const ADMIN = "migration-test-admin-token-0123456789";
const ZERO = "0".repeat(64);

/** The one-chain trail's hash, as the code before migration 1765000000000 computed it. */
function legacyHash(e: { seq: number; requestId: string | null; actorId: string; actorRole: string; action: string; details: string; occurredAt: Date; prevHash: string }): string {
  const content = [e.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, e.occurredAt.toISOString(), e.prevHash];
  return createHash("sha256").update(JSON.stringify(content)).digest("hex");
}

const databaseOf = (url: string) => (url.startsWith("sqlite:") ? { kind: "sqlite" as const, file: url.slice("sqlite:".length) } : { kind: "mysql" as const, url });

/** A database at the schema before the audit streams, holding a trail written the old way: one chain, one head. */
async function previousInstallation(db: TestDatabase, events: number, breakAt?: number): Promise<{ headHash: string; requests: string[] }> {
  const ds = new DataSource({ ...dataSourceOptions({ database: databaseOf(db.url) }), migrations: MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.name === "AuditStreams1765000000000")) } as never);
  await ds.initialize();
  try {
    await ds.runMigrations();
    const requests = ["6f1c0d2e-1111-4a4a-8a8a-000000000001", "6f1c0d2e-2222-4a4a-8a8a-000000000002", "6f1c0d2e-3333-4a4a-8a8a-000000000003"];
    let prevHash = ZERO;
    const sqlite = ds.options.type === "better-sqlite3";
    for (let seq = 1; seq <= events; seq++) {
      const occurredAt = new Date(Date.UTC(2026, 0, 1, 0, 0, seq));
      const e = { seq, requestId: seq % 4 === 0 ? null : requests[seq % 3], actorId: "cli", actorRole: "CLI", action: seq % 4 === 0 ? "token.created" : "request.noted", details: JSON.stringify({ n: seq }), occurredAt, prevHash };
      const hash = legacyHash(e);
      const stored = seq === breakAt ? JSON.stringify({ n: -1 }) : e.details;
      await ds.query(`INSERT INTO audit_events (seq, requestId, actorId, actorRole, action, details, occurredAt, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
        seq, e.requestId, e.actorId, e.actorRole, e.action, stored, sqlite ? occurredAt.toISOString().replace("T", " ").replace("Z", "") : occurredAt, prevHash, hash,
      ]);
      prevHash = hash;
    }
    await ds.query(`UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1`, [events, prevHash]);
    return { headHash: prevHash, requests };
  } finally {
    await ds.destroy();
  }
}

describeEachDatabase("audit streams migration from the one-chain trail", (db) => {
  it("re-chains an existing trail into streams that verify, seal, and then show tampering", async function () {
    this.timeout(180_000);
    const { headHash, requests } = await previousInstallation(db(), 40);
    const env = { DATABASE_URL: db().url, DSR_DATA_DIR: tempDir() };
    const migrated = await runDsr(["migrate"], env);
    expect(migrated.code, migrated.stderr).to.equal(0);
    expect(migrated.stdout).to.include("AuditStreams1765000000000");

    const ds = new DataSource(dataSourceOptions({ database: databaseOf(db().url) }));
    await ds.initialize();
    try {
      const streams = await ds.query(`SELECT stream, COUNT(*) AS n, MAX(seq) AS top FROM audit_events GROUP BY stream ORDER BY stream`);
      // 30 request events over three requests, 10 installation events plus the migration's own.
      expect(streams.map((s: any) => [s.stream, Number(s.n), Number(s.top)])).to.deep.equal([...requests.map((r) => [r, 10, 10]), ["installation", 11, 11]]);
      const [marker] = await ds.query(`SELECT details FROM audit_events WHERE action = 'audit.trail_migrated'`);
      expect(JSON.parse(marker.details)).to.deep.equal({ legacyChainIntact: true, legacyEvents: 40, legacyHeadHash: headHash, legacyHeadSeq: 40, legacyProblem: null });
    } finally {
      await ds.destroy();
    }

    const before = await runDsr(["audit", "verify"], env);
    expect(before.code, before.stdout + before.stderr).to.equal(0);
    expect(before.stdout).to.match(/intact: 41 event\(s\) in 4 trail\(s\).*no checkpoint has been written yet; 41 event\(s\)/);
    const sealed = await runDsr(["audit", "checkpoint"], env);
    expect(sealed.stdout).to.include("sealed checkpoint 1: 41 event(s) in 4 trail(s)");

    const config = loadConfig({ NODE_ENV: "test", PORT: "0", DSR_HOST: "127.0.0.1", DSR_LOG_LEVEL: "silent", DSR_WORKER_CONCURRENCY: "0", DSR_SAMPLE_WORKSPACE: "false", DSR_BOOTSTRAP_ADMIN_TOKEN: ADMIN, ...env });
    const service = await startService({ config });
    try {
      const verify = async () => {
        const res = await fetch(service.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ query: `{ verifyAuditTrail(full: true) { ok latestCheckpoint checkedEvents problems { kind stream seq } } }` }) });
        return ((await res.json()) as any).data.verifyAuditTrail;
      };
      expect(await verify()).to.deep.equal({ ok: true, latestCheckpoint: 1, checkedEvents: 42, problems: [] });
      await service.services.ds.query(`UPDATE audit_events SET details = '{"n":0}' WHERE stream = ? AND seq = 4`, [requests[1]]);
      expect(await verify()).to.deep.include({ ok: false, problems: [{ kind: "EVENT_CHANGED", stream: requests[1], seq: 4 }] });
    } finally {
      await service.stop();
    }
    const after = await runDsr(["audit", "verify", "--full"], env);
    expect(after.code).to.equal(1);
    expect(after.stdout).to.include(`problem EVENT_CHANGED stream=${requests[1]} seq=4`);
  });

  it("records in the trail that the old chain was already broken when it was migrated", async function () {
    this.timeout(120_000);
    // The suite's database was migrated by the first test: this one starts from the previous schema in a new one.
    const fresh = db().kind === "sqlite" ? await createSqliteDatabase() : await createMariadbDatabase();
    try {
      await previousInstallation(fresh, 12, 7);
      expect((await runDsr(["migrate"], { DATABASE_URL: fresh.url, DSR_DATA_DIR: tempDir() })).code).to.equal(0);
      const ds = new DataSource(dataSourceOptions({ database: databaseOf(fresh.url) }));
      await ds.initialize();
      try {
        const [marker] = await ds.query(`SELECT details FROM audit_events WHERE action = 'audit.trail_migrated'`);
        expect(JSON.parse(marker.details)).to.include({ legacyChainIntact: false, legacyEvents: 12, legacyProblem: "event 7 had been changed" });
      } finally {
        await ds.destroy();
      }
    } finally {
      await fresh.drop();
    }
  });
});
