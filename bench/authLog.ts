/**
 * Auth-log benchmark: one subject with BENCH_EVENTS events (default 1,000,000) in a DynamoDB table
 * (dynalite, in memory, on loopback), collected and then erased through the auth-log connector.
 * Prints events/s for each and the peak RSS of the process running the connector, so "without
 * buffering" shows as numbers: the peak stays flat whatever BENCH_EVENTS is.
 *
 * dynalite and the seeding run in a child process, so the parent's peak RSS counts the connector only.
 *
 *   npm run bench:authlog                      # (script: "tsc -p . && node dist/bench/authLog.js")
 *   BENCH_EVENTS=100000 npm run bench:authlog
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import readline from "node:readline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAuthLogConnector } from "../src/connectors/authLog";
import { testContext } from "../src/connectors/testing/conformance";
import { createDynamoAuthLogTable, sampleAuthEvents, seedDynamoAuthLog } from "../src/sample/authLog";
import { samplePeople } from "../src/sample/people";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const TABLE = "auth-events";
const CREDENTIALS = { accessKeyId: "AKIDBENCH", secretAccessKey: "bench-secret" };
const REGION = "us-east-1";

/** Peak resident set size of this process so far, in MB (resourceUsage reports kB). */
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** Child: dynalite in memory, seeded with the subject's events; prints where it listens, then waits. */
async function serve(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require("dynalite") as (o: Record<string, number>) => http.Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: REGION, credentials: { ...CREDENTIALS } });
  await createDynamoAuthLogTable(client, { tableName: TABLE });
  const [subject] = samplePeople(2, { authEventsForAda: EVENTS });
  const started = Date.now();
  const seeded = await seedDynamoAuthLog(client, { tableName: TABLE }, sampleAuthEvents(subject), { concurrency: 8 });
  process.stdout.write(`${JSON.stringify({ port, seeded, seedMs: Date.now() - started, userId: subject.userId })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

async function main(): Promise<void> {
  console.log(`seeding ${EVENTS.toLocaleString("en")} events into dynalite (child process)...`);
  const child = spawn(process.execPath, ["--no-warnings", __filename, "--serve"], { stdio: ["pipe", "pipe", "inherit"], env: process.env });
  const [line] = (await once(readline.createInterface({ input: child.stdout! }), "line")) as [string];
  const { port, seeded, seedMs, userId } = JSON.parse(line) as { port: number; seeded: number; seedMs: number; userId: string };
  const rows: [string, string, string, string][] = [["seed (BatchWriteItem puts, 8 in flight)", seeded.toLocaleString("en"), `${(seedMs / 1000).toFixed(1)} s`, `${Math.round(seeded / (seedMs / 1000)).toLocaleString("en")}/s`]];
  const connector = createAuthLogConnector({ store: "dynamodb", tableName: TABLE, region: REGION, endpoint: `http://127.0.0.1:${port}`, ...CREDENTIALS });
  const subject = { email: "bench@example.com", userId };
  const before = peakRssMb();
  try {
    let started = Date.now();
    let collected = 0;
    for await (const record of connector.collect(subject, testContext())) if (record.id) collected += 1;
    const collectMs = Date.now() - started;
    rows.push(["collect (Query pages of 1000)", collected.toLocaleString("en"), `${(collectMs / 1000).toFixed(1)} s`, `${Math.round(collected / (collectMs / 1000)).toLocaleString("en")}/s`]);
    const afterCollect = peakRssMb();
    started = Date.now();
    const ctx = testContext();
    const { erased } = await connector.erase(subject, { categories: ["AUTH_LOGS"] }, ctx);
    const eraseMs = Date.now() - started;
    rows.push(["erase (conditional DeleteItem per event, 16 in flight)", erased.toLocaleString("en"), `${(eraseMs / 1000).toFixed(1)} s`, `${Math.round(erased / (eraseMs / 1000)).toLocaleString("en")}/s`]);
    let left = 0;
    for await (const _ of connector.collect(subject, testContext())) left += 1;
    for (const r of rows) console.log(`${r[0].padEnd(52)} ${r[1].padStart(10)} events ${r[2].padStart(8)} ${r[3].padStart(10)}`);
    console.log(`peak RSS of the connector's process: ${before} MB before collect, ${afterCollect} MB after collect, ${peakRssMb()} MB after erase`);
    console.log(`heartbeats during erase: ${ctx.heartbeats}; events left after erase: ${left}`);
    if (collected !== seeded || erased !== seeded || left !== 0) throw new Error(`mismatch: seeded ${seeded}, collected ${collected}, erased ${erased}, left ${left}`);
  } finally {
    await connector.close();
    child.stdin!.end();
  }
}

(process.argv.includes("--serve") ? serve() : main()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
