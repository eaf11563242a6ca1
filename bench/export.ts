/**
 * Export benchmark: one subject with 1,000,000 auth events (~300 MB of JSON) staged as a COLLECT would
 * stage them (encrypted batches), then the real EXPORT step (merge -> ZIP -> AES-256-GCM -> local storage) in a child
 * process of its own, so its peak RSS is the export's alone. Prints export MB/s (JSON bytes of the
 * records per second), the ratio to `gzip -6` compressing the same JSON Lines bytes on this machine in
 * this run, and peak RSS. Targets: ratio >= 0.5, peak RSS < 300 MB.
 *
 *   npm run bench:export
 *   BENCH_EVENTS=200000 BENCH_RUNS=5 npm run bench:export
 *
 * BENCH_RUNS (default 3) runs the export and gzip that many times each on the same staged data and
 * reports the medians: one run on a 2-core machine varies by 10-20 %.
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { loadConfig } from "../src/config/env";
import { noErasure, TaskContext } from "../src/connectors/sdk";
import { RequestSource, RequestStatus, RequestType } from "../src/domain/enums";
import { TaskStatus, TaskStep } from "../src/domain/tasks";
import { ExportRow, RequestRow, TaskRow } from "../src/entities";
import { exportTools } from "../src/export/context";
import { runExportStep } from "../src/export/exportStep";
import { insertAlone, recordLine, StagingWriter } from "../src/export/staging";
import { stagingKey } from "../src/export/stagingKeys";
import { createLogger } from "../src/logger";
import { createServices } from "../src/server";
import { median } from "./stats";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const DEVICES = ["iPhone 15", "Pixel 8", "MacBook Pro", "ThinkPad X1", "Galaxy S24", "iPad Air"];
const BROWSERS = ["Safari 17.4", "Chrome 124.0", "Firefox 125.0", "Edge 124.0"];
const OSES = ["iOS 17.4", "Android 14", "macOS 14.4", "Windows 11", "Ubuntu 24.04"];
const RESULTS = ["SUCCESS", "SUCCESS", "SUCCESS", "DENIED", "TIMEOUT"];
const FACTORS = ["TOTP", "PUSH", "WEBAUTHN", "SMS"];

/** The i-th auth event: deterministic, varied the way real login logs are. */
function event(i: number) {
  const at = new Date(Date.UTC(2024, 0, 1) + i * 29_000);
  return {
    id: `evt_${String(i).padStart(8, "0")}`,
    recordedAt: at,
    data: {
      device: DEVICES[i % DEVICES.length],
      ip: `203.0.${(i >> 8) & 255}.${i & 255}`,
      browser: BROWSERS[(i * 7) % BROWSERS.length],
      os: OSES[(i * 3) % OSES.length],
      result: RESULTS[(i * 13) % RESULTS.length],
      factor: FACTORS[(i * 5) % FACTORS.length],
      challengeMs: 200 + ((i * 7919) % 9000),
      location: i % 11 === 0 ? "Bengaluru, IN" : "London, GB",
    },
  };
}

async function child(dataDir: string, requestId: string, taskId: string): Promise<void> {
  const config = loadConfig({ DSR_DATA_DIR: dataDir, DSR_LOG_LEVEL: "warn", DSR_MIGRATE_ON_START: "false" });
  const services = await createServices({ config, connectors: [], logger: createLogger("silent") });
  const task = await services.ds.getRepository(TaskRow).findOneByOrFail({ id: taskId });
  const ctx: TaskContext = {
    requestId,
    taskId,
    attempt: 1,
    logger: services.logger,
    signal: new AbortController().signal,
    idempotencyKey: "bench",
    now: () => new Date(),
    heartbeat: async () => undefined,
    eraseUnit: noErasure,
    unfinishedUnits: async () => [],
  };
  const started = process.hrtime.bigint();
  const written = await runExportStep(services, task, ctx);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const row = written.row;
  await services.ds.destroy();
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(JSON.stringify({ seconds, records: written.records, encryptedBytes: row.encryptedBytes, maxRssKb: usage.maxRSS, cpuSeconds }));
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-export-"));
  try {
    const config = loadConfig({ DSR_DATA_DIR: dataDir, DSR_LOG_LEVEL: "warn" });
    const services = await createServices({ config, connectors: [], logger: createLogger("warn") });
    const now = new Date();
    const requestId = randomUUID();
    const taskId = randomUUID();
    await services.ds.getRepository(RequestRow).insert({
      id: requestId, type: RequestType.ACCESS, status: RequestStatus.IN_PROGRESS, source: RequestSource.ADMIN, subjectEmail: "ada.lovelace@example.com",
      subjectUserId: null, subjectPhone: null, subjectExternalIds: null, corrections: null, receivedAt: now, dueAt: now, extendedDays: 0, extensionReason: null,
      statusReason: null, verifiedAt: now, verificationMethod: null, verificationEvidence: null, verificationCodeHash: null, verificationExpiresAt: null,
      verificationAttempts: 0, submittedBy: SYSTEM_ACTOR.id, closedAt: null, duplicateOf: null, updatedAt: now, version: 0,
    } as never);
    const task = (connector: string, step: TaskStep, id: string, status: TaskStatus) => ({
      id, requestId, connector, step, status, waitingFor: 0, attempts: 1, maxAttempts: 5, runAfter: now, lockedBy: null, leaseExpiresAt: null, lastError: null, note: null,
      remoteReference: null, result: null, idempotencyKey: randomUUID(), createdAt: now, startedAt: now, finishedAt: now, updatedAt: now,
    });
    const collectId = randomUUID();
    await services.ds.getRepository(TaskRow).insert([task("auth-log", TaskStep.COLLECT, collectId, TaskStatus.SUCCEEDED), task("export", TaskStep.EXPORT, taskId, TaskStatus.RUNNING)]);

    // Stage the events as a COLLECT stages them (encrypted batches), and write the same records as JSON
    // Lines, byte for byte what the export's data file holds, for gzip to compress.
    const jsonl = path.join(dataDir, "auth_logs.jsonl");
    const out = fs.openSync(jsonl, "w");
    const key = () => stagingKey(services.ds, exportTools(services).keys, requestId, now);
    const writer = new StagingWriter(key, { requestId, taskId: collectId, attempt: 1, connector: "auth-log" }, insertAlone(services.ds), () => now);
    let jsonBytes = 0;
    const stageStarted = Date.now();
    for (let from = 0; from < EVENTS; from += 10_000) {
      let chunk = "";
      for (let i = from; i < Math.min(EVENTS, from + 10_000); i++) {
        const e = event(i);
        const record = { category: "AUTH_LOGS" as const, type: "auth_event", id: e.id, recordedAt: e.recordedAt, data: e.data };
        await writer.add(record);
        chunk += recordLine("auth-log", record);
      }
      jsonBytes += Buffer.byteLength(chunk);
      fs.writeSync(out, chunk);
    }
    const staged = await writer.finish();
    await services.ds.getRepository(TaskRow).update({ id: collectId }, { result: { records: staged } });
    fs.closeSync(out);
    await services.ds.destroy();
    process.stderr.write(`staged ${EVENTS} events (${(jsonBytes / 1e6).toFixed(0)} MB of JSON) in ${((Date.now() - stageStarted) / 1000).toFixed(1)} s\n`);

    type ChildResult = { seconds: number; records: number; encryptedBytes: number; maxRssKb: number; cpuSeconds: number };
    const gzipRuns: number[] = [];
    const exportRuns: ChildResult[] = [];
    for (let run = 0; run < RUNS; run++) {
      const gzipStarted = process.hrtime.bigint();
      execFileSync("sh", ["-c", `gzip -6 -c '${jsonl}' > /dev/null`]);
      gzipRuns.push(Number(process.hrtime.bigint() - gzipStarted) / 1e9);
      const child = spawnSync(process.execPath, [...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(" ") : []), __filename, "--child", dataDir, requestId, taskId], { encoding: "utf8", maxBuffer: 1 << 20 });
      if (child.status !== 0) throw new Error(`export child failed: ${child.stderr}`);
      exportRuns.push(JSON.parse(child.stdout) as ChildResult);
      process.stderr.write(`run ${run + 1}/${RUNS}: export ${exportRuns[run].seconds.toFixed(2)} s (CPU ${exportRuns[run].cpuSeconds.toFixed(2)} s), gzip -6 ${gzipRuns[run].toFixed(2)} s\n`);
    }
    const gzipSeconds = median(gzipRuns);
    const seconds = median(exportRuns.map((r) => r.seconds));
    const result = { ...exportRuns[0], seconds, cpuSeconds: median(exportRuns.map((r) => r.cpuSeconds)), maxRssKb: Math.max(...exportRuns.map((r) => r.maxRssKb)) };
    const exportMBs = jsonBytes / 1e6 / result.seconds;
    const gzipMBs = jsonBytes / 1e6 / gzipSeconds;
    const ratio = exportMBs / gzipMBs;
    const rssMB = result.maxRssKb / 1024;
    const lines = [
      `events                 ${result.records}`,
      `JSON bytes             ${(jsonBytes / 1e6).toFixed(1)} MB`,
      `runs (medians)         ${RUNS}`,
      `export                 ${result.seconds.toFixed(2)} s   ${exportMBs.toFixed(1)} MB/s   CPU ${result.cpuSeconds.toFixed(2)} s   (encrypted archive ${(result.encryptedBytes / 1e6).toFixed(1)} MB: JSONL + CSV + index.html)`,
      `gzip -6, same bytes    ${gzipSeconds.toFixed(2)} s   ${gzipMBs.toFixed(1)} MB/s`,
      `ratio export / gzip    ${ratio.toFixed(2)}   (target >= 0.5: ${ratio >= 0.5 ? "met" : "MISSED"})`,
      `peak RSS of the export ${rssMB.toFixed(0)} MB   (target < 300 MB: ${rssMB < 300 ? "met" : "MISSED"})`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child") {
  child(process.argv[3], process.argv[4], process.argv[5]).catch((error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  });
}
