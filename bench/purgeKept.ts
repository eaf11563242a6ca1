/**
 * Purge memory benchmark: a deletion that kept BENCH_KEPT records without a date (default 200,000), their
 * ids stored as the service stores them (kept_undated_ids, encrypted batches of 1,000, SQLite). Each mode
 * runs in its own process (fresh heap) and prints the peak heapUsed above its baseline while it reads the
 * ids, "erases" them page by page (the connector call itself left out) and recounts what the system holds
 * after (BENCH_FOUND undated records the person made since, default 1,000):
 *
 * - `all-at-once`: what the purge did before (keptUndatedPages into memory, every id in a Set for the
 *   recount, every erased ref kept for the outcome), reproduced with the same functions;
 * - `streamed`: what it does now (keptUndatedOf / undatedRefs a page at a time, counted; the recount's
 *   DeletionCount checking the undated records it found against the ids a page at a time).
 *
 *   npm run bench:purgekept                    # (script: "tsc -p . && node --expose-gc dist/bench/purgeKept.js")
 *   BENCH_LIVE=1 BENCH_KEPT=1000000 node --expose-gc dist/bench/purgeKept.js   # live heap only, a million ids
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataSource } from "typeorm";
import type { RecordRef, SubjectRecord } from "../src/connectors/sdk";
import { dataSourceOptions } from "../src/db/dataSource";
import { DeletionCount } from "../src/domain/counting";
import type { TaskRow } from "../src/entities";
import type { DataKeys } from "../src/export/keys";
import { countIn, keptByDeletionOf, keptUndatedOf, undatedRefs } from "../src/orchestrator/heldBackResidue";
import { keptUndatedPages, sealKeptUndated, storeKeptUndated } from "../src/orchestrator/keptUndatedIds";
import { masterKeys } from "../test/support/migrated";

const KEPT = Number(process.env.BENCH_KEPT ?? 200_000);
const FOUND = Number(process.env.BENCH_FOUND ?? 1_000);
const OWNER = { requestId: "00000000-0000-4000-8000-0000000000b1", connector: "auth-log", taskId: "00000000-0000-4000-8000-0000000000b2" };
const ERASE = { ...OWNER, id: OWNER.taskId, finishedAt: new Date("2026-01-01T00:00:00Z"), result: { keptUndatedIds: KEPT } } as unknown as TaskRow;
const REQUEST = { closedAt: new Date("2026-01-01T00:00:00Z"), updatedAt: new Date("2026-01-01T00:00:00Z") };
const INSTRUCTION = { categories: ["SECURITY"] };
const eventId = (i: number) => `evt-${String(i).padStart(9, "0")}-ada.lovelace@example.com`;

async function open(file: string): Promise<DataSource> {
  const ds = new DataSource(dataSourceOptions({ database: { kind: "sqlite", file } } as never));
  await ds.initialize();
  await ds.runMigrations();
  return ds;
}

/** The undated records the recount finds: the person's since (none of them kept by the deletion). */
function* found(): Generator<SubjectRecord> {
  for (let i = 0; i < FOUND; i++) yield { category: "SECURITY", type: "auth_event", id: `since-${i}`, data: {} } as SubjectRecord;
}

/** Peak heapUsed, sampled on a timer and at every page. */
class Peak {
  private max = 0;
  private readonly timer = setInterval(() => this.sample(), 1);
  /** BENCH_LIVE=1: collects garbage before each page's sample, so the peak is what is live, not what the collector had not reached yet. */
  page(): void {
    if (process.env.BENCH_LIVE) global.gc?.();
    this.sample();
  }
  sample(): void {
    this.max = Math.max(this.max, process.memoryUsage().heapUsed);
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.max;
  }
}

async function allAtOnce(ds: DataSource, keys: DataKeys, peak: Peak): Promise<{ erased: number; kept: number }> {
  const pages = await keptUndatedPages(ds.manager, keys, OWNER);
  const undated = new Set(pages.flatMap((page) => page.map((r) => `${r.type}\u0000${r.id}`)));
  const erased: RecordRef[] = [];
  for (const page of pages.map((p) => p.filter((r) => INSTRUCTION.categories.includes(String(r.category)))).filter((p) => p.length)) {
    erased.push(...page);
    peak.page();
  }
  let kept = 0;
  for (const r of found()) if (undated.has(`${r.type}\u0000${r.id}`)) kept += 1;
  peak.page();
  return { erased: erased.length, kept };
}

async function streamed(ds: DataSource, keys: DataKeys, peak: Peak): Promise<{ erased: number; kept: number }> {
  const keptBy = keptByDeletionOf(ERASE, REQUEST, keptUndatedOf(ds, keys, ERASE));
  const erasedIn: Record<string, number> = {};
  for await (const page of undatedRefs(keptBy.undated, INSTRUCTION.categories)) {
    countIn(erasedIn, page);
    peak.page();
  }
  const count = new DeletionCount(INSTRUCTION, true, keptBy);
  for (const r of found()) count.add(r);
  await count.settleKept(async () => peak.page());
  peak.page();
  const kept = count.result().sets.reduce((n, s) => n + s.found, 0);
  return { erased: erasedIn.SECURITY ?? 0, kept };
}

async function child(mode: string, file: string, master: string): Promise<void> {
  const ds = await open(file);
  const keys = masterKeys(Buffer.from(master, "hex"));
  global.gc?.();
  const base = process.memoryUsage().heapUsed;
  const peak = new Peak();
  const started = Date.now();
  const counts = await (mode === "streamed" ? streamed : allAtOnce)(ds, keys, peak);
  const max = peak.stop();
  await ds.destroy();
  process.send!({ mode, ...counts, peakAboveBaseMb: +((max - base) / 2 ** 20).toFixed(1), ms: Date.now() - started });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-purge-kept-"));
  const file = path.join(dir, "service.sqlite");
  const master = randomBytes(32);
  try {
    const ds = await open(file);
    const ids = Array.from({ length: KEPT }, (_, i) => eventId(i));
    const rows = await sealKeptUndated(masterKeys(master), OWNER, [{ category: "SECURITY", type: "auth_event", ids }], new Date());
    await ds.transaction((em) => storeKeptUndated(em, OWNER, rows));
    await ds.destroy();
    console.log(`${KEPT} kept ids in ${rows.length} encrypted batches; the recount finds ${FOUND} undated records made since`);
    for (const mode of ["all-at-once", "streamed"]) {
      const p = fork(__filename, [mode, file, master.toString("hex")], { execArgv: ["--expose-gc"] });
      const [report] = (await new Promise((resolve, reject) => {
        p.once("message", (m) => resolve([m]));
        p.once("error", reject);
      })) as [unknown];
      console.log(JSON.stringify(report));
      await new Promise((resolve) => p.once("exit", resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2]) void child(process.argv[2], process.argv[3], process.argv[4]);
else void main();
