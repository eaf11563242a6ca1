/**
 * GraphQL throughput: autocannon against `requests(first: 50)` on the real service (SQLite, 300 seeded
 * requests, auth, limits, logging and metrics on) and against a bare Apollo server answering the same
 * shape from memory, in one run. Prints both req/s, p99 and the ratio (target: at least 0.7).
 * Both run with NODE_ENV=production and answer the same bytes (checked before loading); the load generator
 * runs in the same process, so its cost counts for both. Also prints CPU time per request, the steadier
 * figure on a shared machine.
 * The two are loaded in alternating short rounds (service, bare, service, bare, ...): the machine's speed
 * drifts by a third over seconds on a shared 2-core host, so each service round is compared with the bare
 * round right after it, and the ratio reported is the median of those pairs' ratios (req/s and p99 are
 * medians over rounds). One 10-second run of each varied the ratio by +-0.07; medians of whole runs by more.
 *   npm run bench:graphql   (BENCH_ROUNDS=8 BENCH_SECONDS=3 BENCH_CONNECTIONS=10 to change the load;
 *                            BENCH_ONLY=service|bare to load one, e.g. under node --cpu-prof)
 */
import "./production";
import "reflect-metadata";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import autocannon from "autocannon";
import pino from "pino";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { createToken } from "../src/auth/tokens";
import { loadConfig } from "../src/config/env";
import { Role } from "../src/domain/enums";
import { RequestRow } from "../src/entities";
import { createLogger } from "../src/logger";
import { startService } from "../src/server";
import { median } from "./stats";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 8));
/** Unmeasured load on each server first, so both are measured with their code optimized (steady state). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const SEEDED = 300;
const QUERY = `query Page { requests(first: 50) { totalCount edges { cursor node { id type status source receivedAt dueAt overdue } } } }`;

/**
 * req/s and p99 of one server under load, and the process's CPU time per answered request (load generator
 * included, the same for both): steadier than req/s on a machine other work shares.
 */
async function load(url: string, token: string | null, seconds = SECONDS): Promise<{ rps: number; p99: number; cpuMs: number }> {
  const headers: Record<string, string> = { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const cpu = process.cpuUsage();
  const result = await autocannon({ url, method: "POST", headers, body: JSON.stringify({ query: QUERY }), connections: CONNECTIONS, duration: seconds });
  const used = process.cpuUsage(cpu);
  if (result.non2xx || result.errors) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { rps: result.requests.average, p99: result.latency.p99, cpuMs: (used.user + used.system) / 1000 / result.requests.total };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-graphql-"));
  const config = loadConfig({ NODE_ENV: "production", DSR_PUBLIC_URL: "https://dsr.example.com", PORT: "0", DSR_HOST: "127.0.0.1", DSR_DATA_DIR: dir, DSR_SECRET: "bench-secret-0123456789-0123456789", DSR_NOTIFIER: "webhook", DSR_NOTIFIER_URL: "http://127.0.0.1:9/", DSR_NOTIFIER_SECRET: "bench-notifier-secret", DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0", DSR_EXPORT_MASTER_KEY: randomBytes(32).toString("base64"), DSR_AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString() });
  // Logs go to a file through the same kind of destination `dsr serve` writes stdout with (pino's sonic-boom,
  // one write per line), not to the terminal: a collector reads them, the terminal is not what is measured.
  const logFile = pino.destination({ dest: path.join(dir, "service.log"), sync: true });
  const service = await startService({ config, connectors: [], logger: createLogger("info", {}, { destination: logFile }) });
  const { ds } = service.services;
  const token = (await createToken(ds, service.services.clock, SYSTEM_ACTOR, { name: "bench", role: Role.ADMIN })).token;
  const now = Date.now();
  const rows = Array.from({ length: SEEDED }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    type: ["ACCESS", "PORTABILITY", "DELETION", "CORRECTION"][i % 4],
    status: ["PENDING_APPROVAL", "IN_PROGRESS", "COMPLETED"][i % 3],
    source: "ADMIN",
    subjectEmail: `person${i}@example.com`,
    receivedAt: new Date(now - i * 60_000),
    dueAt: new Date(now + (30 * 24 * 60 - i) * 60_000),
    submittedBy: "bench",
    version: 1,
    updatedAt: new Date(now),
  }));
  await ds.getRepository(RequestRow).insert(rows as Partial<RequestRow>[]);

  // The service's own answer first: the bare server hands back exactly this data (same fields, cursors,
  // enums and dates), so both answer the same query with the same bytes and only the work behind differs.
  const ask = (url: string, auth: string | null) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify({ query: QUERY }) });
  const serviceText = await (await ask(service.url, token)).text();
  const body = JSON.parse(serviceText) as { data?: { requests: { totalCount: number; edges: unknown[] } }; errors?: unknown };
  if (!body.data || body.data.requests.edges.length !== 50) throw new Error(`the service did not answer a page of 50: ${JSON.stringify(body.errors ?? body)}`);
  const answer = body.data.requests;

  const bare = new ApolloServer({
    typeDefs: `type Query { requests(first: Int!): Connection! } type Connection { totalCount: Int! edges: [Edge!]! } type Edge { cursor: String! node: Req! }
      enum RequestType { ACCESS PORTABILITY DELETION CORRECTION } enum RequestStatus { PENDING_APPROVAL IN_PROGRESS COMPLETED } enum RequestSource { ADMIN }
      type Req { id: ID! type: RequestType! status: RequestStatus! source: RequestSource! receivedAt: String! dueAt: String! overdue: Boolean! }`,
    resolvers: { Query: { requests: () => answer } },
  });
  const { url: bareUrl } = await startStandaloneServer(bare, { listen: { port: 0, host: "127.0.0.1" } });
  const bareText = await (await ask(bareUrl, null)).text();
  if (bareText !== serviceText) throw new Error(`the bare server's answer differs from the service's (${bareText.length} vs ${serviceText.length} bytes)`);

  // BENCH_ONLY=service|bare loads one server only (to profile it with node --cpu-prof).
  const only = process.env.BENCH_ONLY;
  type Load = Awaited<ReturnType<typeof load>>;
  const rounds: { real: Load[]; memory: Load[] } = { real: [], memory: [] };
  if (WARMUP_SECONDS > 0) {
    if (only !== "bare") await load(service.url, token, WARMUP_SECONDS);
    if (only !== "service") await load(bareUrl, null, WARMUP_SECONDS);
  }
  for (let round = 0; round < ROUNDS; round++) {
    if (only !== "bare") rounds.real.push(await load(service.url, token));
    if (only !== "service") rounds.memory.push(await load(bareUrl, null));
  }
  const medianLoad = (loads: Load[]): Load | null =>
    loads.length ? { rps: median(loads.map((l) => l.rps)), p99: median(loads.map((l) => l.p99)), cpuMs: median(loads.map((l) => l.cpuMs)) } : null;
  const real = medianLoad(rounds.real);
  const memory = medianLoad(rounds.memory);
  console.log(`requests(first: 50), ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up each, then ${ROUNDS} alternating rounds of ${SECONDS} s each, NODE_ENV=production, both answers ${serviceText.length} bytes`);
  const line = (r: Load) => `${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms, ${r.cpuMs.toFixed(2)} ms CPU per request`;
  if (real) console.log(`  dsr service (SQLite, ${SEEDED} requests): ${line(real)}   rounds: ${rounds.real.map((r) => r.rps.toFixed(0)).join(", ")} req/s`);
  if (memory) console.log(`  bare Apollo (from memory):        ${line(memory)}   rounds: ${rounds.memory.map((r) => r.rps.toFixed(0)).join(", ")} req/s`);
  if (real && memory) {
    const pairs = rounds.real.map((r, i) => r.rps / rounds.memory[i].rps);
    const ratio = median(pairs);
    console.log(`  ratio: ${ratio.toFixed(2)} (target >= 0.70) ${ratio >= 0.7 ? "OK" : "BELOW TARGET"}   median of the rounds' ratios: ${pairs.map((p) => p.toFixed(2)).join(", ")}`);
    console.log(`  by CPU time: bare's CPU per request / the service's = ${median(rounds.real.map((r, i) => rounds.memory[i].cpuMs / r.cpuMs)).toFixed(2)} (median of the rounds)`);
  }
  await bare.stop();
  await service.stop();
  logFile.end();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
