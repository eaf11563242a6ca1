/**
 * Orchestrator benchmark: N requests x 4 connectors that each take 50 ms.
 * Prints requests/s, task throughput, the ratio of one request's wall time to its critical path
 * (one 50 ms step: the four connectors are independent) — close to 1 means the fan-out is parallel, 4
 * would mean the connectors ran one after another; timed on a running service, after the warm-up, with the
 * workers' very first requests printed beside it — and the time spent waiting on locks.
 *
 *   npm run bench:orchestrator                  # embedded SQLite in a temp folder, in-process worker
 *   DATABASE_URL=mysql://root@127.0.0.1:3306/test npm run bench:orchestrator   # MySQL/MariaDB: 1, 2 and 4 `dsr worker` processes (scratch schemas)
 *   BENCH_REQUESTS=1000 BENCH_CONCURRENCY=64 BENCH_PROCESSES=1,2,4 npm run bench:orchestrator
 *   BENCH_CPU_PROF=/tmp/prof DATABASE_URL=mysql://... npm run bench:orchestrator   # a CPU profile per worker process
 *   BENCH_NODE_FLAGS="--max-semi-space-size=16" DATABASE_URL=mysql://... npm run bench:orchestrator   # workers' flags, and these after them
 *   BENCH_WARM_DRAINS=0 npm run bench:orchestrator   # no warm-up drains (at most 12 by default; see WARM_DRAINS)
 *   BENCH_POLL_MS=500 DATABASE_URL=mysql://... npm run bench:orchestrator   # workers that poll as the service's default does
 *
 * Warm-up: before the figures, the same worker(s) drain REQUESTS requests at a time until their CPU per
 * request is steady (V8 has optimized the hot path), each drain's figures printed.
 * The drain is timed from the first task's start to the last task's end (the rows' own times), so the
 * worker processes' start-up and the bench's own polling are not counted. With `dsr worker` processes
 * it runs twice: first on the processes that ran the single requests and the warm-up (paused with SIGSTOP
 * while the drain's requests are approved), as workers that have been running; then on fresh processes, as
 * after a deploy, whose first seconds go to loading and compiling (printed beside the first); lock waits are InnoDB's row-lock time over the
 * drain, server-wide (other clients of the same server count too), as are the statements per request
 * (MySQL's Questions counter). On SQLite the lock wait is the time
 * statements and transactions queued for the one connection (src/db/connectionQueue.ts).
 *
 * CPU per request: the worker processes' own (from /proc; for fresh ones less one idle worker's start-up) and, on a
 * local MySQL/MariaDB, the server's (server-wide) over the drain; on SQLite the one process's. With the
 * machine's cores, that bounds the requests/s any scheduling could reach: cores / CPU per request.
 */
import "reflect-metadata";
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { decideRequest } from "../src/commands/requestDecider";
import { submitRequest } from "../src/commands/requestSubmitter";
import { loadConfig } from "../src/config/env";
import { RequestType } from "../src/domain/enums";
import { createServices, workerOptions } from "../src/server";
import { closeServices } from "../src/server";
import { Worker } from "../src/orchestrator/worker";
import type { Services } from "../src/services";
import { queueWaitMs } from "../src/db/connectionQueue";
import { isoFromSqliteText } from "../src/db/timestamps";
import { createConnector } from "./sleepConnector";
import { median } from "./stats";
import { SERVICE_ENV } from "../src/nodeFlags";
import { serviceNodeFlags } from "./serviceFlags";

const STEP_MS = 50;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** How often the workers look for work when nothing wakes them, in ms (BENCH_POLL_MS; the service's default is 500). */
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 10);
const PROCESSES = (process.env.BENCH_PROCESSES ?? "1,2,4").split(",").map(Number);
const NAMES = ["accounts", "authlog", "payments", "tickets"];
const BIN = path.resolve(__dirname, "..", "..", "bin", "dsr.js");

async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base || !base.startsWith("mysql")) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-"));
    return { url: `sqlite:${path.join(dir, "bench.sqlite")}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `dsr_bench_${randomBytes(4).toString("hex")}`;
  const admin = await mysql.createConnection({ uri: base });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = await mysql.createConnection({ uri: base });
      await c.query(`DROP DATABASE ${name}`);
      await c.end();
    },
  };
}

async function submitted(services: Services, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await submitRequest(services, SYSTEM_ACTOR, {
      type: RequestType.ACCESS,
      subject: { email: `bench${i}-${randomBytes(3).toString("hex")}@example.com` },
      identityVerified: true,
      verificationEvidence: "benchmark",
    });
    ids.push(r.id);
  }
  return ids;
}

async function approve(services: Services, ids: string[]): Promise<void> {
  for (const id of ids) await decideRequest(services, SYSTEM_ACTOR, "approve", id);
}

async function openCount(services: Services, ids: string[]): Promise<number> {
  const rows = await services.ds
    .createQueryBuilder()
    .select("COUNT(*)", "n")
    .from("requests", "r")
    .where("r.status <> 'COMPLETED'")
    .andWhere("r.id IN (:...ids)", { ids })
    .getRawOne();
  return Number(rows.n);
}

/**
 * Waits until every request is COMPLETED, looking every 100 ms (a single request: every 2 ms): the drain is timed by the tasks' own
 * times (taskWindow), not by this loop, whose query (an IN over every id) would otherwise take a
 * noticeable share of the one SQLite connection the workers use.
 */
async function waitAll(services: Services, ids: string[], pollMs = 100): Promise<void> {
  while ((await openCount(services, ids)) > 0) {
    if (workerDied) throw new Error(workerDied);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Set when a `dsr worker` process ends while the bench did not stop it: the requests it would have run
 * are never finished, so waitAll fails with this (how it ended) instead of waiting for ever.
 */
let workerDied: string | undefined;

/** The rows' own times of a set of requests' tasks: first start, last finish. */
async function taskWindow(services: Services, ids: string[]): Promise<number> {
  const [row] = await services.ds.query(`SELECT MIN(startedAt) AS first, MAX(finishedAt) AS last FROM tasks WHERE requestId IN (${ids.map(() => "?").join(",")})`, ids);
  return (new Date(row.last).getTime() - new Date(row.first).getTime()) / 1000;
}

/**
 * How many of the requests had their COLLECTs started by more than one worker process, from the audit
 * trail (each "task.started" event names the worker, and a worker's id names its process): such a
 * request's completions commit in separate transactions that queue for its EXPORT row.
 */
async function requestsSplit(services: Services, ids: string[]): Promise<number> {
  const rows: Array<{ requestId: string; details: string | Record<string, unknown> }> = await services.ds.query(
    `SELECT requestId, details FROM audit_events WHERE action = 'task.started' AND requestId IN (${ids.map(() => "?").join(",")})`,
    ids,
  );
  const workers = new Map<string, Set<string>>();
  for (const row of rows) {
    const details = (typeof row.details === "string" ? JSON.parse(row.details) : row.details) as { step?: string; worker?: string };
    if (details.step !== "COLLECT" || !details.worker) continue;
    workers.set(row.requestId, (workers.get(row.requestId) ?? new Set()).add(details.worker));
  }
  return [...workers.values()].filter((w) => w.size > 1).length;
}

/** InnoDB's row-lock wait counters and the statements the server ran (server-wide). */
async function innodbLockWaits(services: Services): Promise<{ ms: number; waits: number; statements: number }> {
  const rows: Array<{ Variable_name: string; Value: string }> = await services.ds.query(`SHOW GLOBAL STATUS WHERE Variable_name LIKE 'Innodb_row_lock_%' OR Variable_name = 'Questions'`);
  const get = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value ?? 0);
  return { ms: get("Innodb_row_lock_time"), waits: get("Innodb_row_lock_waits"), statements: get("Questions") };
}

/**
 * At most this many warm-up drains (BENCH_WARM_DRAINS; 0 for none) before the warm figures. V8 compiles
 * a function with TurboFan only after it has run a while in the interpreter, so a process serves its
 * first requests at about twice the CPU: measured here on MariaDB with 600-request drains, one worker
 * process went 17.1, 11.9, 10.5, 10.2 ms of CPU per request over its first four drains, four processes
 * (each taking a quarter of the work) 35.1, 26.1, 20.3 ... 17.2 ms over ten; with --no-opt both stay at
 * about 25 ms. Without the warm-up the "warm" drain measured processes that had served a few dozen
 * requests each, not "workers that have been running".
 */
const WARM_DRAINS = Number(process.env.BENCH_WARM_DRAINS ?? 12);

/**
 * Warm-up ends when two drains in a row lowered the best CPU per request so far by less than this
 * (5%): the drains' own noise on this machine is about that size.
 */
const WARM_STEADY = 0.05;

/**
 * Runs warm-up drains (`drainOnce`, the same processes each time) until the CPU per request is steady
 * (WARM_STEADY) or WARM_DRAINS have run; returns each one's CPU per request and requests/s, in order.
 */
async function warmUp(drainOnce: () => Promise<Drain>): Promise<WarmUp> {
  const drains: WarmUp = [];
  let best = Infinity;
  let flat = 0;
  while (drains.length < WARM_DRAINS && flat < 2) {
    const d = await drainOnce();
    const cpu = d.cpu?.workerMs ?? NaN;
    drains.push({ cpuMs: cpu, requestsPerSecond: REQUESTS / d.seconds });
    flat = cpu < best * (1 - WARM_STEADY) ? 0 : flat + 1;
    best = Math.min(best, cpu);
  }
  return drains;
}

/** The warm-up drains' figures, in order. */
type WarmUp = Array<{ cpuMs: number; requestsPerSecond: number }>;

interface Singles {
  /** Median wall time of one request alone, from its approval (planning included) to COMPLETED. */
  wall: number;
  /** Median duration of its EXPORT task (from the task row). */
  exportMs: number;
  /** Median milliseconds of each phase of that wall time (PHASES), from the bench's clock and the rows' own times. */
  phases: number[];
}

/**
 * Where one request's wall time goes: the approval (its planning transaction, timed by the bench), then
 * from the rows' times: until a worker started its first COLLECT, the COLLECTs (first start to last
 * finish), until the EXPORT started, the EXPORT, until the request was closed, and until the bench saw it.
 */
const PHASES = ["approve", "to first collect", "collects", "to export", "export", "to closed", "seen"];

/**
 * One request alone, seven times, twice: first as the workers' first requests after they start (cold:
 * V8 has compiled little of the hot path yet, as after a deploy), then after the warm-up drains (warm:
 * a service that has been running). The ratio is reported on the warm ones; the cold ones are printed
 * beside them.
 */
async function singleRatio(services: Services, drainOnce: () => Promise<Drain>): Promise<{ cold: Singles; warm: Singles; warmUp: WarmUp }> {
  const cold = await singles(services);
  const drains = await warmUp(drainOnce);
  return { cold, warm: await singles(services), warmUp: drains };
}

async function singles(services: Services): Promise<Singles> {
  // The export that merges the collects is on the critical path too: its own duration is measured
  // from its task row and added, so the ratio shows the orchestrator's overhead, not the export's work.
  const walls: number[] = [];
  const exports: number[] = [];
  const phases: number[][] = PHASES.map(() => []);
  for (let i = 0; i < 7; i++) {
    const ids = await submitted(services, 1);
    const startedAt = Date.now();
    const started = performance.now();
    await approve(services, ids);
    const approvedAt = Date.now();
    await waitAll(services, ids, 2);
    walls.push(performance.now() - started);
    const seenAt = Date.now();
    const tasks: Array<{ step: string; startedAt: string | Date; finishedAt: string | Date }> = await services.ds.query(`SELECT step, startedAt, finishedAt FROM tasks WHERE requestId = ?`, [ids[0]]);
    const [request]: Array<{ closedAt: string | Date }> = await services.ds.query(`SELECT closedAt FROM requests WHERE id = ?`, [ids[0]]);
    // SQLite's raw rows hold its text form (UTC); MySQL's come as Dates.
    const ms = (t: string | Date) => new Date(typeof t === "string" ? (isoFromSqliteText(t) ?? t) : t).getTime();
    const collects = tasks.filter((t) => t.step === "COLLECT");
    const exported = tasks.find((t) => t.step === "EXPORT")!;
    const firstCollect = Math.min(...collects.map((t) => ms(t.startedAt)));
    const lastCollect = Math.max(...collects.map((t) => ms(t.finishedAt)));
    const marks = [startedAt, approvedAt, firstCollect, lastCollect, ms(exported.startedAt), ms(exported.finishedAt), ms(request.closedAt), seenAt];
    PHASES.forEach((_, p) => phases[p].push(marks[p + 1] - marks[p]));
    exports.push(ms(exported.finishedAt) - ms(exported.startedAt));
  }
  return { wall: median(walls), exportMs: median(exports), phases: phases.map(median) };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null where it cannot be read. */
function cpuSecondsOf(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").pop()!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The local MySQL/MariaDB server's process id, when DATABASE_URL names this machine and /proc shows it. */
function localDatabasePid(): number | null {
  const host = new URL(process.env.DATABASE_URL!).hostname;
  if (!["127.0.0.1", "localhost", "::1"].includes(host)) return null;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (["mariadbd", "mysqld"].includes(fs.readFileSync(`/proc/${entry}/comm`, "utf8").trim())) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

interface CpuPerRequest {
  /** Milliseconds of CPU per request in the process(es) running the tasks. */
  workerMs: number;
  /** The database server's, server-wide; null when it is not a local process (or SQLite, in-process). */
  databaseMs: number | null;
}

/** One drain of REQUESTS requests: its time (the tasks' own), lock waits, statements and CPU. */
interface Drain {
  seconds: number;
  lockMs: number;
  lockWaits: number | null;
  statements?: number;
  cpu?: CpuPerRequest;
  split?: number;
}

/**
 * `r` is the drain the figures are about; `fresh`, with worker processes, the same drain run again by
 * processes started for it, whose first seconds go to loading and compiling (printed beside it).
 */
/** A single request's wall time over its critical path (one collect, then its export). */
const ratioOf = (s: Singles) => (s.wall / (STEP_MS + s.exportMs)).toFixed(2);
/** A single request's phases, each its median in ms. */
const phasesOf = (s: Singles) => PHASES.map((name, p) => `${name} ${s.phases[p].toFixed(0)}`).join(", ");

function report(label: string, r: Drain & { singles: { cold: Singles; warm: Singles; warmUp: WarmUp }; workers: string; fresh?: Drain; polled?: Singles }): void {
  const critical = STEP_MS + r.singles.warm.exportMs;
  console.log(`== ${label}`);
  console.log(`requests x connectors ${REQUESTS} x 4 (each step ${STEP_MS} ms), ${r.workers}`);
  console.log(`drain time            ${r.seconds.toFixed(2)} s`);
  const { warmUp: drains } = r.singles;
  if (drains.length) {
    console.log(
      `warm-up               ${drains.length} drain${drains.length > 1 ? "s" : ""} of ${REQUESTS} requests first, on the same processes: ` +
        `${drains.map((d) => d.requestsPerSecond.toFixed(1)).join(", ")} requests/s, ${drains.map((d) => d.cpuMs.toFixed(1)).join(", ")} ms of CPU per request in the workers`,
    );
  }
  console.log(`requests/s            ${(REQUESTS / r.seconds).toFixed(1)}${r.fresh ? ` (the same processes after the warm-up; fresh ones: ${(REQUESTS / r.fresh.seconds).toFixed(1)})` : ""}`);
  console.log(`tasks/s               ${((REQUESTS * 5) / r.seconds).toFixed(1)} (4 collects and 1 export per request)`);
  const { cold, warm } = r.singles;
  console.log(`one request, alone    median ${warm.wall.toFixed(1)} ms (of 7, after the warm-up); its export task took ${warm.exportMs} ms`);
  console.log(`critical path         ${critical} ms (one ${STEP_MS} ms collect, then the export); sum of connectors ${4 * STEP_MS} ms`);
  console.log(`wall / critical path  ${ratioOf(warm)} (the workers' first requests: ${cold.wall.toFixed(1)} ms, export ${cold.exportMs} ms, ${ratioOf(cold)})`);
  console.log(`its phases (median)   ${phasesOf(warm)} ms`);
  if (r.polled) {
    console.log(
      `without wakes         median ${r.polled.wall.toFixed(1)} ms, wall / critical path ${ratioOf(r.polled)} (the approval wakes no worker process: they find it at their ${POLL_MS} ms poll); ` +
        `phases ${phasesOf(r.polled)} ms`,
    );
  }
  console.log(`lock waits            ${r.lockMs.toFixed(0)} ms${r.lockWaits === null ? " (queued for the SQLite connection)" : ` in ${r.lockWaits} row-lock waits (InnoDB, server-wide)`}`);
  if (r.split !== undefined) console.log(`split requests        ${r.split} of ${REQUESTS} had their collects run by more than one worker process`);
  if (r.statements !== undefined) console.log(`statements / request  ${(r.statements / REQUESTS).toFixed(1)} (the server's Questions counter over the drain, this bench's polling included)`);
  if (r.cpu) {
    const total = r.cpu.workerMs + (r.cpu.databaseMs ?? 0);
    const cores = os.availableParallelism();
    console.log(
      `CPU / request         ${r.cpu.workerMs.toFixed(1)} ms in the worker${r.cpu.databaseMs === null ? "" : `s, ${r.cpu.databaseMs.toFixed(1)} ms in the database server`}: ` +
        `at most ${((cores * 1000) / total).toFixed(0)} requests/s on ${cores} cores, with nothing else running`,
    );
  }
  if (r.fresh?.cpu) {
    console.log(
      `fresh processes       ${(REQUESTS / r.fresh.seconds).toFixed(1)} requests/s, ${r.fresh.statements === undefined ? "" : `${(r.fresh.statements / REQUESTS).toFixed(1)} statements and `}` +
        `${r.fresh.cpu.workerMs.toFixed(1)} ms of CPU per request in the workers (one idle worker's start-up taken off each)` +
        `${r.fresh.cpu.databaseMs === null ? "" : `, ${r.fresh.cpu.databaseMs.toFixed(1)} ms in the database server`}`,
    );
  }
}

/** The embedded SQLite: one process, its in-process worker. */
async function inProcess(): Promise<void> {
  const db = await scratchDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-data-"));
  const config = loadConfig({ DATABASE_URL: db.url, DSR_DATA_DIR: dataDir, DSR_LOG_LEVEL: "warn", DSR_WORKER_POLL_MS: String(POLL_MS) });
  const services = await createServices({ config, connectors: NAMES.map((name) => createConnector({ name, delayMs: STEP_MS })) });
  /** A worker that an approval in this process wakes (the single requests', and a drain's once it runs). */
  const startWorker = () => {
    const started = new Worker(services, services.connectors, workerOptions(config, CONCURRENCY));
    services.wakeWorkers = () => started.wake();
    started.start();
    return started;
  };
  let worker = startWorker();
  /** REQUESTS requests submitted and approved with no worker running, then drained by a new one (left running). */
  const drainOnce = async (): Promise<Drain> => {
    await worker.stop();
    const ids = await submitted(services, REQUESTS);
    await approve(services, ids);
    const queued = await connectionQueueWaitMs(services);
    const cpuBefore = process.cpuUsage();
    worker = startWorker();
    await waitAll(services, ids);
    const used = process.cpuUsage(cpuBefore);
    const lockMs = (await connectionQueueWaitMs(services)) - queued;
    // The bench's own polling runs in this process too (a query every 100 ms): a small overcount.
    return { seconds: await taskWindow(services, ids), lockMs, lockWaits: null, cpu: { workerMs: (used.user + used.system) / 1000 / REQUESTS, databaseMs: null } };
  };
  try {
    const singles = await singleRatio(services, drainOnce);
    const measured = await drainOnce();
    report(`${services.ds.options.type}, in-process worker`, { ...measured, singles, workers: `worker concurrency ${CONCURRENCY}` });
  } finally {
    await worker.stop();
    await services.ds.destroy();
    await db.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Milliseconds spent queueing for the SQLite connection so far. */
async function connectionQueueWaitMs(services: Services): Promise<number> {
  return queueWaitMs(services.ds);
}

/** MySQL: `processes` separate `dsr worker` processes against one scratch schema. */
async function workerProcesses(processes: number): Promise<void> {
  const db = await scratchDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-data-"));
  const module = path.resolve(__dirname, "sleepConnector.js");
  fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: NAMES.map((name) => ({ type: "module", module, options: { name, delayMs: STEP_MS } })) }));
  const env = { DATABASE_URL: db.url, DSR_DATA_DIR: dir, DSR_LOG_LEVEL: "warn", DSR_WORKER_POLL_MS: String(POLL_MS), DSR_CONNECTORS_FILE: path.join(dir, "connectors.json") };
  const config = loadConfig({ ...env, DSR_WORKER_CONCURRENCY: "0" });
  const services = await createServices({ config });
  const children = new Set<ChildProcess>();
  /** While stop() ends the children: their exits are expected then. */
  let stopping = false;
  const start = (count = processes, overrides: Record<string, string> = {}) => {
    for (let i = 0; i < count; i++) {
      // BENCH_CPU_PROF=<folder>: each worker process writes a V8 CPU profile there when it exits.
      const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
      const child = spawn(process.execPath, [...serviceNodeFlags(), ...profile, BIN, "worker", "--concurrency", String(CONCURRENCY)], {
        env: { PATH: process.env.PATH, ...SERVICE_ENV, ...env, DSR_MIGRATE_ON_START: "false", ...overrides },
        stdio: ["ignore", "ignore", "inherit"],
      });
      children.add(child);
      child.once("exit", (code, signal) => {
        children.delete(child);
        if (!stopping) workerDied ??= `dsr worker process ${child.pid} ended while the bench needed it (exit code ${code}, signal ${signal})`;
      });
    }
  };
  /** CPU seconds the running children have used so far. */
  const childrenCpu = () => [...children].reduce((sum, c) => sum + (cpuSecondsOf(c.pid!) ?? NaN), 0);
  /** Stops the children; returns the CPU seconds they used, read just before. */
  const stop = async (): Promise<number> => {
    const used = childrenCpu();
    const exits = [...children].map((c) => new Promise((r) => c.once("exit", r)));
    stopping = true;
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(exits);
    stopping = false;
    return used;
  };
  const databasePid = localDatabasePid();
  const databaseCpu = () => (databasePid === null ? null : cpuSecondsOf(databasePid));
  /**
   * Submits and approves REQUESTS requests while no worker claims (none runs, or they are paused), then
   * lets `go` start or resume them and times the drain; `startup` is taken off each process's CPU.
   */
  const drain = async (go: () => void, startup: number): Promise<Drain> => {
    const ids = await submitted(services, REQUESTS);
    await approve(services, ids);
    const before = await innodbLockWaits(services);
    const databaseBefore = databaseCpu();
    const childrenBefore = childrenCpu();
    go();
    await waitAll(services, ids);
    const after = await innodbLockWaits(services);
    const databaseAfter = databaseCpu();
    const childCpu = childrenCpu() - childrenBefore;
    return {
      seconds: await taskWindow(services, ids),
      split: await requestsSplit(services, ids),
      lockMs: after.ms - before.ms,
      lockWaits: after.waits - before.waits,
      statements: after.statements - before.statements,
      cpu: {
        workerMs: ((childCpu - processes * startup) * 1000) / REQUESTS,
        databaseMs: databaseBefore === null || databaseAfter === null ? null : ((databaseAfter - databaseBefore) * 1000) / REQUESTS,
      },
    };
  };
  try {
    start();
    // The same processes throughout (warm-up drains, then the one measured), as workers that have been
    // running: paused (SIGSTOP) while each drain's requests are approved, then resumed. Idle between
    // requests, they hold no task. A worker paused inside one of its sweeps' short transactions
    // (expired leases, purges to schedule) holds it until resumed; those lock only rows that match
    // them, none of which an approval writes.
    const drainOnce = () => {
      for (const c of children) c.kill("SIGSTOP");
      return drain(() => {
        for (const c of children) c.kill("SIGCONT");
      }, 0);
    };
    const ratio = await singleRatio(services, drainOnce);
    // The baseline, on the same warm processes: approvals that send no wake (wake.ts), so the workers
    // find them only at their poll.
    const polled = await singles({ ...services, wakeWorkers: () => undefined });
    const warm = await drainOnce();
    await stop();
    // Fresh processes, as after a deploy: each first loads, connects and compiles. One worker's start-up
    // (loading, connecting, migrations checked) is taken off each one's CPU. It polls once a minute, so
    // its CPU stops growing once it has started (every 10 ms, idle claims would count).
    const startup = await idleWorkerCpu(() => start(1, { DSR_WORKER_POLL_MS: "60000" }), stop, () => children);
    const fresh = await drain(() => start(), startup);
    await stop();
    report(`${services.ds.options.type}, ${processes} dsr worker process${processes > 1 ? "es" : ""}`, {
      ...warm,
      fresh,
      singles: ratio,
      polled,
      workers: `${processes} x worker concurrency ${CONCURRENCY}`,
    });
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await closeServices(services);
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The CPU one `dsr worker` process uses to start with nothing to run: spawned alone (polling seldom),
 * read once its CPU stops growing (two readings 300 ms apart within 10 ms), then stopped. Throws when
 * it never settles, rather than count idle work as start-up.
 */
async function idleWorkerCpu(startOne: () => void, stop: () => Promise<number>, children: () => Set<ChildProcess>): Promise<number> {
  startOne();
  const [child] = children();
  let last = -1;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const now = cpuSecondsOf(child.pid!) ?? NaN;
    if (now - last < 0.01) return stop();
    last = now;
  }
  await stop();
  throw new Error("an idle dsr worker kept using CPU for 30 s: its start-up cannot be told apart");
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL?.startsWith("mysql")) return inProcess();
  for (const n of PROCESSES) await workerProcesses(n);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
