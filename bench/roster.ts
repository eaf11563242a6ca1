/**
 * A breach roster of a big system: BENCH_PEOPLE people (default 200,000) in the sample account database
 * and BENCH_EVENTS_PER_PERSON auth events each (default 5) in the sample auth-log store, both SQLite, and
 * a roster of the auth log drawn through GraphQL (startBreachRoster -> COMPLETED -> createBreachRosterLink
 * -> download), by a service on SQLite in this process. The auth log knows people by user id only, so the
 * roster also lists the account database for their emails and joins the two. While it runs, /healthz is
 * asked every 100 ms and the event loop's delay is sampled (perf_hooks.monitorEventLoopDelay). Printed:
 * wall time, people/s, peak RSS (and its growth over the seeded process), event-loop delay p99/max, the
 * slowest /healthz; and, in the same run, the plain pipeline on the same rows: one SELECT joining each
 * user id's event count to the account's email, CSV lines into a file. The systems are seeded by a child
 * process, so this process's RSS is the service's (and the bench's download of the file).
 *
 *   npm run bench:roster
 *   BENCH_PEOPLE=20000 npm run bench:roster
 *   BENCH_ROSTER_DIR=/tmp/roster-1m BENCH_PEOPLE=1000000 npm run bench:roster   # seeds that folder once, reuses it after
 */
import "reflect-metadata";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { createToken } from "../src/auth/tokens";
import { systemClock } from "../src/clock";
import { loadConfig } from "../src/config/env";
import { createAuthLogConnector } from "../src/connectors/authLog";
import { createSqlConnector } from "../src/connectors/sql";
import { Role } from "../src/domain/enums";
import { sampleAccountDbConfig } from "../src/sample/accountDb";
import { samplePeople } from "../src/sample/people";
import { seedSampleDatabases } from "../src/sample/workspace";
import { startService } from "../src/server";

const PEOPLE = Number(process.env.BENCH_PEOPLE ?? 200_000);
const EVENTS_PER_PERSON = Number(process.env.BENCH_EVENTS_PER_PERSON ?? 5);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** The sample account database and auth log with PEOPLE people of EVENTS_PER_PERSON events each. */
const seeded = (dir: string) => seedSampleDatabases(dir, samplePeople(PEOPLE).map((p) => ({ ...p, authEventCount: EVENTS_PER_PERSON })));

// No type declarations ship with better-sqlite3 (TypeORM drives it); the floor uses its plain API.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require("better-sqlite3") as new (file: string, options: { readonly: boolean }) => { prepare(sql: string): { run(...p: unknown[]): unknown; iterate(): Iterable<unknown> }; close(): void };

/** The floor: one statement joining each user id's event count to the account's email, CSV lines into a file. */
function plainPipeline(files: { accounts: string; authLog: string }, out: string): { ms: number; rows: number } {
  const started = performance.now();
  const db = new Database(files.authLog, { readonly: true });
  db.prepare("ATTACH DATABASE ? AS accounts").run(files.accounts);
  const fd = fs.openSync(out, "w");
  let rows = 0;
  let chunk = "emails,phones,other_identities,systems,records\n";
  for (const r of db.prepare("SELECT e.user_id AS id, u.email AS email, u.phone AS phone, COUNT(*) AS n FROM auth_events e LEFT JOIN accounts.users u ON u.id = e.user_id GROUP BY e.user_id").iterate() as Iterable<{ id: string; email: string | null; phone: string | null; n: number }>) {
    chunk += `${r.email ?? ""},${r.phone ?? ""},userId=${r.id},auth-log,${r.n}\n`;
    rows += 1;
    if (chunk.length > 1 << 16) (fs.writeSync(fd, chunk), (chunk = ""));
  }
  fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  db.close();
  return { ms: performance.now() - started, rows };
}

/** The seeded systems' files in `dir`, seeded by a child process (this file with --seed) unless they are there. */
function seededByChild(dir: string): { accounts: string; authLog: string } {
  const files = { accounts: path.join(dir, "accounts.sqlite"), authLog: path.join(dir, "auth-log.sqlite") };
  const marker = path.join(dir, "seeded");
  if (fs.existsSync(marker)) {
    if (fs.readFileSync(marker, "utf8").trim() !== `${PEOPLE} ${EVENTS_PER_PERSON}`) throw new Error(`${dir} was seeded with other sizes (${fs.readFileSync(marker, "utf8").trim()}): use another folder`);
    return files;
  }
  const child = spawnSync(process.execPath, [__filename, "--seed", dir], { stdio: "inherit", env: process.env });
  if (child.status !== 0) throw new Error(`seeding failed (exit ${child.status})`);
  return files;
}

async function main(): Promise<void> {
  const kept = process.env.BENCH_ROSTER_DIR;
  if (kept) fs.mkdirSync(kept, { recursive: true });
  const dir = kept ?? fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-roster-"));
  const scratch = kept ? fs.mkdtempSync(path.join(os.tmpdir(), "dsr-bench-roster-run-")) : dir;
  try {
    let t = performance.now();
    const files = seededByChild(dir);
    console.log(`seeded ${PEOPLE.toLocaleString("en")} people, ${(PEOPLE * EVENTS_PER_PERSON).toLocaleString("en")} auth events (${((performance.now() - t) / 1000).toFixed(1)} s; 0 when reused)`);
    const baseline = plainPipeline(files, path.join(scratch, "plain.csv"));
    const accountDb = createSqlConnector(sampleAccountDbConfig(), { url: `sqlite:${files.accounts}` });
    const authLog = createAuthLogConnector({ store: "sql", url: `sqlite:${files.authLog}` });
    const config = loadConfig({ NODE_ENV: "development", PORT: "0", DSR_HOST: "127.0.0.1", DATABASE_URL: `sqlite:${path.join(scratch, "dsr.sqlite")}`, DSR_DATA_DIR: path.join(scratch, "data"), DSR_LOG_LEVEL: "warn", DSR_WORKER_CONCURRENCY: "2", DSR_SAMPLE_WORKSPACE: "false" });
    const service = await startService({ config, connectors: [accountDb, authLog] });
    try {
      const { token } = await createToken(service.services.ds, systemClock, SYSTEM_ACTOR, { name: "bench", role: Role.ADMIN });
      const gql = async (query: string, variables: Record<string, unknown> = {}) => {
        const res = await fetch(service.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
        const body = (await res.json()) as { data?: any; errors?: unknown[] };
        if (body.errors) throw new Error(JSON.stringify(body.errors));
        return body.data;
      };
      const rssBefore = process.resourceUsage().maxRSS * 1024;
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      let slowestHealth = 0;
      let healthChecks = 0;
      const health = setInterval(() => {
        const sent = performance.now();
        void fetch(service.url.replace(/\/graphql$/, "/healthz")).then(async (r) => {
          await r.text();
          healthChecks += 1;
          slowestHealth = Math.max(slowestHealth, performance.now() - sent);
        });
      }, 100);
      t = performance.now();
      const { startBreachRoster } = await gql(`mutation { startBreachRoster(input: { connectors: ["auth-log"], reason: "bench" }) { id } }`);
      let roster: any;
      for (;;) {
        ({ breachRoster: roster } = await gql(`query($id: ID!) { breachRoster(id: $id) { status people withoutEmail lastError systems { connector outcome people records } } }`, { id: startBreachRoster.id }));
        if (roster.status === "COMPLETED" || roster.status === "FAILED") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const { createBreachRosterLink } = await gql(`mutation($id: ID!) { createBreachRosterLink(id: $id) { url } }`, { id: startBreachRoster.id });
      // Counted as it arrives: the bench holds no copy of the file (its RSS is the service's).
      let fileBytes = 0;
      let newlines = 0;
      for await (const chunk of (await fetch(createBreachRosterLink.url)).body as unknown as AsyncIterable<Uint8Array>) {
        fileBytes += chunk.length;
        for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) newlines += 1;
      }
      const wall = performance.now() - t;
      clearInterval(health);
      delay.disable();
      const rssPeak = process.resourceUsage().maxRSS * 1024;
      // Every line ends with CRLF (csv-stringify's default is LF: either way one newline a line); less the header.
      const lines = newlines - 1;
      if (roster.status !== "COMPLETED" || lines !== PEOPLE || roster.people !== PEOPLE) throw new Error(`roster ${roster.status} (${roster.lastError ?? ""}): ${roster.people} people, ${lines} lines, ${PEOPLE} expected`);
      if (baseline.rows !== PEOPLE) throw new Error(`plain pipeline: ${baseline.rows} rows, ${PEOPLE} expected`);
      console.log(`breach roster of auth-log (${PEOPLE.toLocaleString("en")} people, ${roster.withoutEmail} without email, records ${roster.systems[0].records}), SQLite, in-process service:`);
      console.log(`  end to end (start -> COMPLETED -> download): ${(wall / 1000).toFixed(2)} s, ${Math.round(PEOPLE / (wall / 1000)).toLocaleString("en")} people/s, file ${mb(fileBytes)}`);
      console.log(`  plain pipeline (one SELECT ... GROUP BY joined to the emails, CSV to a file): ${(baseline.ms / 1000).toFixed(2)} s -> roster/pipeline ${(wall / baseline.ms).toFixed(1)}x`);
      console.log(`  peak RSS ${mb(rssPeak)} (with the service started ${mb(rssBefore)}, growth ${mb(rssPeak - rssBefore)})`);
      console.log(`  event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms; slowest of ${healthChecks} /healthz ${slowestHealth.toFixed(1)} ms`);
    } finally {
      await service.stop();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--seed") {
  const dir = process.argv[3];
  seeded(dir)
    .then(() => fs.writeFileSync(path.join(dir, "seeded"), `${PEOPLE} ${EVENTS_PER_PERSON}\n`))
    .catch((error) => {
      console.error(error);
      process.exit(1);
    });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
