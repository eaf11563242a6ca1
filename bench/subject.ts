/**
 * One big subject end to end: Ada with BENCH_EVENTS auth events (default 2,000,000) in the sample
 * auth-log store (an SQLite table) and in a DynamoDB-compatible store (dynalite), and a whole ACCESS
 * through GraphQL (submit -> verify -> approve -> COMPLETED -> createExportLink -> download), with the
 * service on SQLite and on MariaDB. Each run's service is a child process with nothing else in it: the
 * person's side (the requests, the mailed code, the polling, the download) is this process, so the
 * child's peak RSS, CPU and event loop are the service's alone. While it runs, /healthz and a GraphQL
 * query are sent every 100 ms and timed here, and the service samples its event loop's delay
 * (perf_hooks.monitorEventLoopDelay). In the same run, the plain pipeline on
 * the same rows: one SELECT, JSON Lines through gzip level 1 into a file; and, for the DynamoDB store,
 * the same pipeline over that store's rows (one paged Query, AUTH_LOG_PAGE_SIZE items a page, as the connector
 * reads them, JSON Lines, gzip -1, a file): the floor dynalite itself sets, which shares the machine's 2 cores.
 * Goals (issue 16): within 3x the pipeline, peak RSS < 300 MB and flat in N, event-loop delay p99 <
 * 50 ms and max < 250 ms.
 *
 *   npm run bench:subject
 *   BENCH_EVENTS=200000 BENCH_DATABASES=sqlite,mariadb BENCH_STORES=sqlite,dynamodb npm run bench:subject
 *   BENCH_SQLITE_STORE=/tmp/ada-2m.sqlite npm run bench:subject   # seeds that file once, reuses it after
 *   BENCH_DYNALITE_DIR=/tmp/ada-2m.dynalite npm run bench:subject  # dynalite on disk (LevelDB), seeded once
 *   BENCH_NODE_FLAGS="--max-semi-space-size=16" npm run bench:subject  # the service's flags, and these after them
 *   BENCH_NODE_FLAGS="--trace-gc-nvp" BENCH_SERVICE_STDOUT=/tmp/gc.log npm run bench:subject  # the service's GC, scavenge by scavenge
 *   BENCH_HEAP_PROFILE=/tmp/p.heapprofile BENCH_HEAP_PROFILE_WINDOW=4,14 BENCH_NODE_FLAGS=--expose-gc npm run bench:subject  # what was promoted, by allocation site
 *
 * MariaDB: BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); a scratch schema is made and dropped.
 */
import "reflect-metadata";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import readline from "node:readline";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import v8 from "node:v8";
import zlib from "node:zlib";
import mysql from "mysql2/promise";
import { DataSource } from "typeorm";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { loadConfig } from "../src/config/env";
import { createAuthLogConnector } from "../src/connectors/authLog";
import { AUTH_LOG_PAGE_SIZE } from "../src/connectors/authLog/options";
import { verifyArchive } from "../src/export/verify";
import { createDynamoAuthLogTable, sampleAuthEvents, seedDynamoAuthLog, seedSampleAuthLog } from "../src/sample/authLog";
import { samplePeople } from "../src/sample/people";
import { SERVICE_ENV } from "../src/nodeFlags";
import { serviceNodeFlags } from "./serviceFlags";
import { startService } from "../src/server";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2_000_000);
const DATABASES = (process.env.BENCH_DATABASES ?? "sqlite,mariadb").split(",");
const STORES = (process.env.BENCH_STORES ?? "sqlite,dynamodb").split(",");
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const TABLE = "auth-events";
const REGION = "us-east-1";
const CREDENTIALS = { accessKeyId: "AKIDBENCH", secretAccessKey: "bench-secret" };
// Made by the bench's own process; its service children are handed it.
const ADMIN_TOKEN = process.env.BENCH_ADMIN_TOKEN ?? `bench-admin-${randomBytes(12).toString("hex")}`;
const ada = () => samplePeople(2, { authEventsForAda: EVENTS })[0];

interface RunResult {
  seconds: number;
  /** CPU time of the service's process over the run (user + system): the machine's load does not inflate it. */
  cpuSeconds: number;
  records: number;
  archiveBytes: number;
  maxRssMb: number;
  /** At the highest sampled RSS: the V8 heap (allocated, in use) and memory outside it (Buffers), in MB. */
  peak: { heapTotalMb: number; heapUsedMb: number; externalMb: number; atSeconds: number };
  loopP99Ms: number;
  loopMaxMs: number;
  health: { n: number; maxMs: number; failed: number };
  graphql: { n: number; maxMs: number; failed: number };
}

/** Child: the SQLite auth-log store, seeded with Ada's events only. */
async function seedSqlite(file: string): Promise<void> {
  const ds = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
  const started = Date.now();
  const n = await seedSampleAuthLog(ds, [ada()], { rowsPerInsert: 500 });
  await ds.destroy();
  process.stdout.write(`${JSON.stringify({ n, seconds: (Date.now() - started) / 1000 })}\n`);
}

/** Child: dynalite in memory seeded with Ada's events; prints its port, then serves until stdin ends. */
async function serveDynalite(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require("dynalite") as (o: Record<string, number | string>) => http.Server;
  // BENCH_DYNALITE_DIR: dynalite keeps its table in LevelDB there, and a later run with the same
  // BENCH_EVENTS reuses it (seeding 2,000,000 items takes minutes); otherwise it is in memory.
  const dir = process.env.BENCH_DYNALITE_DIR;
  const seededMark = dir ? path.join(dir, `seeded-${EVENTS}`) : null;
  const reuse = seededMark !== null && fs.existsSync(seededMark);
  if (dir && !reuse) fs.rmSync(dir, { recursive: true, force: true });
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(dir ? { path: dir } : {}) });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: REGION, credentials: { ...CREDENTIALS } });
  const started = Date.now();
  let n = 0;
  if (!reuse) {
    await createDynamoAuthLogTable(client, { tableName: TABLE });
    n = await seedDynamoAuthLog(client, { tableName: TABLE }, sampleAuthEvents(ada()), { concurrency: 8 });
    if (seededMark) fs.writeFileSync(seededMark, "");
  }
  process.stdout.write(`${JSON.stringify({ port, n, seconds: (Date.now() - started) / 1000 })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

/** Child: the plain pipeline. One query over the same rows, JSON Lines, gzip -1, a file. */
async function plainPipeline(file: string, userId: string, out: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require("better-sqlite3") as new (file: string, o?: object) => { prepare(sql: string): { iterate(...p: unknown[]): Iterable<Record<string, unknown>> }; close(): void };
  const db = new Database(file, { readonly: true });
  const started = process.hrtime.bigint();
  const rows = db.prepare(`SELECT * FROM auth_events WHERE user_id = ? ORDER BY event_key`).iterate(userId);
  async function* lines() {
    let batch = "";
    for (const row of rows) {
      batch += `${JSON.stringify(row)}\n`;
      if (batch.length > 1 << 16) (yield batch, (batch = ""));
    }
    yield batch;
  }
  await gzipLines(lines(), out, started);
  db.close();
}

/** The pipeline's common end: JSON Lines through gzip -1 into `out`, then its figures on stdout (wall time from `started`). */
async function gzipLines(lines: AsyncIterable<string>, out: string, started: bigint): Promise<void> {
  await pipeline(Readable.from(lines), zlib.createGzip({ level: 1 }), fs.createWriteStream(out));
  const usage = process.resourceUsage();
  process.stdout.write(`${JSON.stringify({ seconds: Number(process.hrtime.bigint() - started) / 1e9, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, bytes: fs.statSync(out).size })}\n`);
}

/** Child: the plain pipeline over the DynamoDB store's rows: one Query, paged as the connector pages it. */
async function dynamoPipeline(port: number, userId: string, out: string): Promise<void> {
  const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: REGION, credentials: { ...CREDENTIALS } });
  const doc = DynamoDBDocumentClient.from(client);
  const started = process.hrtime.bigint();
  async function* lines() {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: "userId = :u", ExpressionAttributeValues: { ":u": userId }, ExclusiveStartKey: start, Limit: AUTH_LOG_PAGE_SIZE }));
      yield (page.Items ?? []).map((item) => `${JSON.stringify(item)}\n`).join("");
      start = page.LastEvaluatedKey;
    } while (start);
  }
  await gzipLines(lines(), out, started);
  client.destroy();
}

/** What the parent asks of a running service child, and what it answers (over the IPC channel). */
type ToService = { type: "start" } | { type: "stop" };
type FromService = { type: "ready"; url: string } | { type: "started" } | { type: "result"; result: ServiceFigures };

/** The service's own figures over a run, taken in its process. */
interface ServiceFigures {
  cpuSeconds: number;
  maxRssMb: number;
  peak: RunResult["peak"];
  loopP99Ms: number;
  loopMaxMs: number;
}

/**
 * Child: the service with one auth-log connector, and nothing else. The person's side (submit, the
 * code, approval, polling, probes, download) runs in the parent, so this process's memory, CPU and
 * event loop are the service's alone. Between the parent's "start" and "stop" it samples its memory
 * and its event loop's delay; at "stop" it answers with them, stops and exits.
 */
async function serve(databaseUrl: string, store: string, authLogFile: string, dynamoPort: number, inboxPort: number): Promise<void> {
  const send = (m: FromService) => process.send!(m);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-subject-"));
  const connector =
    store === "dynamodb"
      ? createAuthLogConnector({ store: "dynamodb", tableName: TABLE, region: REGION, endpoint: `http://127.0.0.1:${dynamoPort}`, ...CREDENTIALS })
      : createAuthLogConnector({ store: "sql", url: `sqlite:${authLogFile}` });
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    DSR_HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    DSR_DATA_DIR: dataDir,
    DSR_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    DSR_LOG_FORMAT: "json",
    DSR_NOTIFIER: "webhook",
    DSR_NOTIFIER_URL: `http://127.0.0.1:${inboxPort}/`,
    DSR_NOTIFIER_SECRET: "bench-notifier-secret-0123456789",
    DSR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
    DSR_RATE_LIMIT_PER_SECOND: "0",
    DSR_SAMPLE_WORKSPACE: "false",
    DSR_TASK_TIMEOUT_SECONDS: "7200",
  });
  const service = await startService({ config, connectors: [connector] });
  // What the resident memory is made of at its highest sample (V8 heap, buffers outside it, the rest).
  let peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let peakAt = 0;
  // BENCH_MEMORY_TRACE=<file>: every sample as a line (seconds, RSS, heap allocated, heap used, external,
  // then V8's old space used and committed and its new space committed, then what the kernel counts
  // resident: anonymous (heaps, malloc), file-backed (mapped files: code, an mmapped database) and
  // shared memory (SQLite's WAL index), in MB).
  const trace = process.env.BENCH_MEMORY_TRACE ? fs.openSync(process.env.BENCH_MEMORY_TRACE, "a") : null;
  const spaces = () => {
    const of = (name: string) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name);
    return [of("old_space")?.space_used_size ?? 0, of("old_space")?.space_size ?? 0, of("new_space")?.space_size ?? 0];
  };
  const residentKinds = () => {
    const status = fs.readFileSync("/proc/self/status", "utf8");
    return ["RssAnon", "RssFile", "RssShmem"].map((kind) => Number(new RegExp(`^${kind}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024);
  };
  // BENCH_HEAP_PROFILE=<file>: V8's sampling heap profile of what the run allocated and a scavenge did not
  // free (promoted to the old generation, garbage or not), by allocation site, for DevTools or a script.
  // BENCH_HEAP_PROFILE_WINDOW=<from>,<to> (seconds into the run): sampled only then, and ended after a
  // scavenge (needs BENCH_NODE_FLAGS=--expose-gc), so it holds what lived through one: live or promoted.
  // BENCH_HEAP_PROFILE_ALL=1: every allocation instead (where the young generation's churn comes from).
  const profiling = process.env.BENCH_HEAP_PROFILE ? new Session() : null;
  const [profileFrom, profileTo] = (process.env.BENCH_HEAP_PROFILE_WINDOW ?? "").split(",").map(Number);
  const startProfile = () => profiling!.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !!process.env.BENCH_HEAP_PROFILE_ALL } as never);
  const endProfile = async () => {
    const { profile } = await profiling!.post("HeapProfiler.stopSampling");
    fs.writeFileSync(process.env.BENCH_HEAP_PROFILE!, JSON.stringify(profile));
    profiling!.disconnect();
  };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let sampler: NodeJS.Timeout | undefined;
  let cpuBefore = process.cpuUsage();
  let started = 0;
  process.on("message", async (m: ToService) => {
    if (m.type === "start") {
      if (profiling) {
        profiling.connect();
        if (!profileTo) await startProfile();
        else {
          setTimeout(() => void startProfile(), profileFrom * 1000);
          setTimeout(() => {
            (globalThis as { gc?: (o: object) => void }).gc?.({ type: "minor" });
            void endProfile();
          }, profileTo * 1000);
        }
      }
      cpuBefore = process.cpuUsage();
      started = performance.now();
      loop.enable();
      sampler = setInterval(() => {
        const u = process.memoryUsage();
        if (u.rss > peak.rss) (peak = u), (peakAt = performance.now());
        if (trace !== null) fs.writeSync(trace, `${((performance.now() - started) / 1000).toFixed(1)} ${[u.rss, u.heapTotal, u.heapUsed, u.external, ...spaces(), ...residentKinds()].map((b) => Math.round(b / 2 ** 20)).join(" ")}\n`);
      }, 100);
      send({ type: "started" });
      return;
    }
    const cpu = process.cpuUsage(cpuBefore);
    loop.disable();
    clearInterval(sampler);
    if (trace !== null) fs.closeSync(trace);
    if (profiling && !profileTo) await endProfile();
    send({
      type: "result",
      result: {
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        peak: { heapTotalMb: Math.round(peak.heapTotal / 2 ** 20), heapUsedMb: Math.round(peak.heapUsed / 2 ** 20), externalMb: Math.round(peak.external / 2 ** 20), atSeconds: Math.round((peakAt - started) / 100) / 10 },
        loopP99Ms: loop.percentile(99) / 1e6,
        loopMaxMs: loop.max / 1e6,
      },
    });
    await service.stop();
    await connector.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.disconnect();
  });
  send({ type: "ready", url: service.url });
}

/** Verification codes the service mails, as its webhook notifier posts them: request id -> code. */
async function startInbox(): Promise<{ codes: Map<string, string>; port: number; close: () => void }> {
  const codes = new Map<string, string>();
  const inbox = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const m = JSON.parse(body) as { requestId: string; code: string };
      codes.set(m.requestId, m.code);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => inbox.listen(0, "127.0.0.1", resolve));
  return { codes, port: (inbox.address() as AddressInfo).port, close: () => inbox.close() };
}

/**
 * One cell: the service in a child process (serve), and the whole ACCESS from the outside, here, as
 * its users would send it: submit, the mailed code, verify, approve, poll until COMPLETED, a link, the
 * download; /healthz and a GraphQL query every 100 ms meanwhile, each timed.
 */
async function run(databaseUrl: string, store: string, authLogFile: string, dynamoPort: number, inbox: { codes: Map<string, string>; port: number }, dir: string): Promise<RunResult> {
  // The service runs with its runtime flags, as `npm start` and `dsr serve` run it (and BENCH_NODE_FLAGS).
  const child = spawn(process.execPath, [...serviceNodeFlags(), "--no-warnings", __filename, "--serve", databaseUrl, store, authLogFile, String(dynamoPort), String(inbox.port)], {
    // Its log lines are not this bench's output; its errors are.
    // BENCH_SERVICE_STDOUT=<file> keeps them (and what BENCH_NODE_FLAGS="--trace-gc" prints).
    stdio: ["ignore", process.env.BENCH_SERVICE_STDOUT ? fs.openSync(process.env.BENCH_SERVICE_STDOUT, "a") : "ignore", "inherit", "ipc"],
    env: { ...process.env, ...SERVICE_ENV, BENCH_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  const exited = once(child, "exit");
  const replies: FromService[] = [];
  let waiting: (() => void) | null = null;
  child.on("message", (m: FromService) => (replies.push(m), waiting?.()));
  void exited.then(() => waiting?.());
  const next = async <T extends FromService["type"]>(type: T): Promise<Extract<FromService, { type: T }>> => {
    while (!replies.length) {
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}) before it answered ${type}`);
      await new Promise<void>((resolve) => (waiting = resolve));
    }
    const m = replies.shift()!;
    if (m.type !== type) throw new Error(`the service answered ${m.type}, not ${type}`);
    return m as Extract<FromService, { type: T }>;
  };
  const tell = (m: ToService) => child.send(m);
  try {
    const { url } = await next("ready");
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ query, variables }) });
      const body = (await r.json()) as { data?: any; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    const person = ada();
    // The user id is vouched for: no connector of this workspace confirms it (the auth log only reads by
    // it), and a code sent to the address proves the address alone.
    const { submitRequest } = await gql(`mutation($s: SubjectInput!) { submitRequest(input: { type: ACCESS, subject: $s, identityVerified: true, verificationEvidence: "bench: the user id is the bench subject's" }) { id status } }`, { s: { email: person.email, userId: person.userId } });
    const id = submitRequest.id as string;
    if (submitRequest.status !== "PENDING_APPROVAL") throw new Error(`the request was submitted ${submitRequest.status}, not PENDING_APPROVAL`);

    const probes = { health: { n: 0, maxMs: 0, failed: 0 }, graphql: { n: 0, maxMs: 0, failed: 0 } };
    const healthUrl = new URL("/healthz", url).toString();
    let probing = true;
    const probe = async (kind: "health" | "graphql", call: () => Promise<unknown>) => {
      while (probing) {
        const sent = performance.now();
        try {
          await Promise.race([call(), new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 5000))]);
        } catch {
          probes[kind].failed += 1;
        }
        const ms = performance.now() - sent;
        probes[kind].n += 1;
        probes[kind].maxMs = Math.max(probes[kind].maxMs, ms);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    tell({ type: "start" });
    await next("started");
    const started = performance.now();
    // The memory trace's marks: what the request was doing from then on (the service's samples follow).
    const trace = process.env.BENCH_MEMORY_TRACE;
    let marked = "";
    const mark = (what: string) => {
      if (trace && what !== marked) fs.appendFileSync(trace, `# ${((performance.now() - started) / 1000).toFixed(1)} ${(marked = what)}\n`);
    };
    const probing1 = probe("health", async () => (await fetch(healthUrl)).arrayBuffer());
    const probing2 = probe("graphql", () => gql(`query($id: ID!) { request(id: $id) { status progress { finished total } } }`, { id }));
    await gql(`mutation($id: ID!) { approveRequest(id: $id) { status } }`, { id });
    let status = "";
    for (;;) {
      // A frozen service resets connections: keep asking (the probes count the failures).
      const state = await gql(`query($id: ID!) { request(id: $id) { status progress { finished total } } }`, { id }).catch(() => null);
      status = state?.request.status ?? "";
      if (state) mark(`${status} ${state.request.progress.finished}/${state.request.progress.total}`);
      if (status === "COMPLETED" || status === "FAILED") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (status !== "COMPLETED") throw new Error(`the request ended ${status}`);
    const link = (await gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id })).createExportLink.url as string;
    const archive = path.join(dir, "export.zip");
    mark("downloading");
    const download = await fetch(link);
    await pipeline(Readable.fromWeb(download.body as never), fs.createWriteStream(archive));
    mark("downloaded");
    const seconds = (performance.now() - started) / 1000;
    // The probes end before the service does (one in flight at its stop would count as failed).
    probing = false;
    await Promise.all([probing1, probing2]);
    tell({ type: "stop" });
    const { result: service } = await next("result");
    await exited;
    if (child.exitCode !== 0) throw new Error(`the service exited ${child.exitCode}`);
    const verified = await verifyArchive(archive);
    if (!verified.ok) throw new Error(`the archive does not verify: ${verified.problems.join("; ")}`);
    const records = verified.manifest!.categories.reduce((n, c) => n + c.records, 0);
    const archiveBytes = fs.statSync(archive).size;
    fs.rmSync(archive);
    return { seconds, records, archiveBytes, ...service, ...probes };
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

function childJson<T>(args: string[]): T {
  // With the service's runtime flags too: the pipeline it is compared with runs under the same V8 settings.
  const child = spawnSync(process.execPath, [...serviceNodeFlags(), "--no-warnings", __filename, ...args], { encoding: "utf8", maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...SERVICE_ENV } });
  if (child.status !== 0) throw new Error(`child ${args[0]} failed (${child.status})`);
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as T;
}

async function scratchMariadb(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  const name = `dsr_bench_${randomBytes(4).toString("hex")}`;
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = await mysql.createConnection({ uri: MYSQL_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-subject-"));
  const inbox = await startInbox();
  const dynalite = STORES.includes("dynamodb") ? spawn(process.execPath, ["--no-warnings", __filename, "--dynalite"], { stdio: ["pipe", "pipe", "inherit"], env: process.env }) : null;
  try {
    // BENCH_SQLITE_STORE: an auth log a previous run seeded with the same BENCH_EVENTS (seeding 2,000,000 takes minutes).
    const authLogFile = process.env.BENCH_SQLITE_STORE ?? path.join(dir, "auth-log.sqlite");
    console.log(`seeding ${EVENTS.toLocaleString("en")} auth events for one subject...`);
    const seeded = childJson<{ n: number; seconds: number }>(["--seed-sqlite", authLogFile]);
    console.log(`  SQLite store: ${seeded.n.toLocaleString("en")} events in ${seeded.seconds.toFixed(1)} s${seeded.n ? "" : " (already seeded)"}`);
    let dynamoPort = 0;
    if (dynalite) {
      const [line] = (await once(readline.createInterface({ input: dynalite.stdout! }), "line")) as [string];
      const d = JSON.parse(line) as { port: number; n: number; seconds: number };
      dynamoPort = d.port;
      console.log(`  DynamoDB store (dynalite${process.env.BENCH_DYNALITE_DIR ? ", LevelDB on disk" : ""}): ${d.n.toLocaleString("en")} events in ${d.seconds.toFixed(1)} s${d.n ? "" : " (already seeded)"}`);
    }
    const plain = childJson<{ seconds: number; cpuSeconds: number; bytes: number }>(["--pipeline", authLogFile, ada().userId, path.join(dir, "plain.jsonl.gz")]);
    console.log(`plain pipeline (one SELECT -> JSON Lines -> gzip -1 -> file): ${plain.seconds.toFixed(1)} s (CPU ${plain.cpuSeconds.toFixed(1)} s), ${(plain.bytes / 1e6).toFixed(1)} MB`);
    const dynamoPlain = dynalite ? childJson<{ seconds: number; cpuSeconds: number; bytes: number }>(["--dynamo-pipeline", String(dynamoPort), ada().userId, path.join(dir, "plain-dynamo.jsonl.gz")]) : null;
    if (dynamoPlain) console.log(`plain pipeline over dynalite (one paged Query -> JSON Lines -> gzip -1 -> file): ${dynamoPlain.seconds.toFixed(1)} s (CPU ${dynamoPlain.cpuSeconds.toFixed(1)} s, dynalite's own not counted), ${(dynamoPlain.bytes / 1e6).toFixed(1)} MB`);
    const rows: string[] = [];
    for (const database of DATABASES) {
      for (const store of STORES) {
        const db = database === "mariadb" ? await scratchMariadb() : { url: `sqlite:${path.join(dir, `dsr-${store}.sqlite`)}`, drop: async () => undefined };
        try {
          console.log(`running: service on ${database}, auth log in ${store}...`);
          const r = await run(db.url, store, authLogFile, dynamoPort, inbox, dir);
          const ratio = r.seconds / plain.seconds;
          rows.push(
            `${database.padEnd(8)} ${store.padEnd(9)} ${r.records.toLocaleString("en").padStart(10)} ${r.seconds.toFixed(1).padStart(7)} s ${Math.round(r.records / r.seconds).toLocaleString("en").padStart(9)}/s ` +
              `${ratio.toFixed(1).padStart(5)}x  CPU ${r.cpuSeconds.toFixed(1).padStart(6)} s (${(r.cpuSeconds / plain.cpuSeconds).toFixed(1)}x) ${String(r.maxRssMb).padStart(5)} MB (at ${r.peak.atSeconds} s: heap ${r.peak.heapTotalMb}/${r.peak.heapUsedMb} used, external ${r.peak.externalMb})  loop p99 ${r.loopP99Ms.toFixed(0).padStart(4)} ms max ${r.loopMaxMs.toFixed(0).padStart(5)} ms  ` +
              `healthz ${r.health.n} max ${r.health.maxMs.toFixed(0)} ms (${r.health.failed} failed)  graphql ${r.graphql.n} max ${r.graphql.maxMs.toFixed(0)} ms (${r.graphql.failed} failed)` +
              (store === "dynamodb" && dynamoPlain ? `  ${(r.seconds / dynamoPlain.seconds).toFixed(1)}x the pipeline over dynalite` : ""),
          );
          console.log(`  ${rows[rows.length - 1]}`);
        } finally {
          await db.drop();
        }
      }
    }
    console.log(`\nN = ${EVENTS.toLocaleString("en")}; plain pipeline ${plain.seconds.toFixed(1)} s${dynamoPlain ? ` (over dynalite: ${dynamoPlain.seconds.toFixed(1)} s)` : ""} (goal: within 3x, peak RSS < 300 MB, loop p99 < 50 ms, max < 250 ms)`);
    console.log(`database store          records    wall      events/s  ratio (wall, then CPU, to the plain pipeline)   RSS`);
    for (const r of rows) console.log(r);
  } finally {
    dynalite?.stdin!.end();
    inbox.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const [, , mode, ...args] = process.argv;
const entry =
  mode === "--seed-sqlite" ? seedSqlite(args[0]) : mode === "--dynalite" ? serveDynalite() : mode === "--pipeline" ? plainPipeline(args[0], args[1], args[2]) : mode === "--dynamo-pipeline" ? dynamoPipeline(Number(args[0]), args[1], args[2]) : mode === "--serve" ? serve(args[0], args[1], args[2], Number(args[3]), Number(args[4])) : main();
entry.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
