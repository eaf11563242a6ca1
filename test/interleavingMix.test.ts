import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { DataSource } from "typeorm";
import { collectAll, testContext } from "../src/connectors/testing/conformance";
import type { Connector, Identities } from "../src/connectors/sdk";
import { Role } from "../src/domain/enums";
import { ZipReader } from "../src/export/zipReader";
import { loadConnectorsFile } from "../src/orchestrator/connectorsFile";
import { sampleAccountDbConfig } from "../src/sample/accountDb";
import { samplePeople, SamplePerson, seededRandom } from "../src/sample/people";
import { startStripeStandIn, StripeStandIn } from "../src/sample/stripe";
import { seedSampleDatabases } from "../src/sample/workspace";
import { startZendeskStandIn, ZendeskStandIn } from "../src/sample/zendesk";
import { dsrAgainst } from "./support/auditTools";
import { describeEachDatabase, tempDir } from "./support/databases";
import { download } from "./export/support";
import { submit, TestService } from "./support/harness";
import { WorkerProcesses } from "./support/workerProcesses";

/**
 * A seeded random mix of everything people do at once, through GraphQL, over a few people of the sample
 * systems (account database, auth log, Stripe and Zendesk stand-ins): access requests, deletions (some
 * submitted twice at once), corrections (two people giving themselves one new address at once),
 * legal holds placed and released mid-work, rejections and cancellations, an approval racing a
 * cancellation and, on SQLite, the clock moved past the auth logs' retention so that purges run beside
 * the rest. On SQLite the service runs in-process; on MariaDB a serving process answers GraphQL and two
 * `dsr worker` processes do the work. Afterwards every claim is checked against the systems' own data
 * (the account database's rows, the stand-ins' stores read back by the connectors, the downloaded
 * archives) and the audit trail is verified (GraphQL and `dsr audit verify`).
 * `DSR_TEST_INTERLEAVE_SEED=<n>` replays one seed; `DSR_TEST_INTERLEAVE_RUNS=<n>` runs more seeds.
 */
const REPLAY = process.env.DSR_TEST_INTERLEAVE_SEED;
const RUNS = Number(process.env.DSR_TEST_INTERLEAVE_RUNS ?? 1);
const SEEDS = REPLAY ? [Number(REPLAY)] : Array.from({ length: RUNS }, (_, i) => 5003 + i * 7919);
const DAY = 86_400_000;
const STRIPE_KEY = `sk_test_interleave_${randomBytes(8).toString("hex")}`;
const ZENDESK_TOKEN = randomBytes(20).toString("hex");
const ENV = { INTERLEAVE_ACCOUNTS_URL: "", INTERLEAVE_AUTH_LOG_URL: "", INTERLEAVE_STRIPE_KEY: STRIPE_KEY, INTERLEAVE_ZENDESK_TOKEN: ZENDESK_TOKEN };
const SHOW = `query($id: ID!) { request(id: $id) { id type status statusReason duplicateOf
  tasks { connector step status lastError outcome { erased kept remaining changed notHeld keptByHold } }
  deletionOutcome { connector differences { kind records } }
  retentionExceptions { connector category recordCount holdId status retainUntil } residualRecords { connector records } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records } } }`;
const CLASH = /the corrected email is held by another person's row already/;
/** A correction refused approval and left waiting: the worker closes it DSR_UNDECIDED_GRACE_DAYS after its due date (retentionPasses move the clock 100 days). */
const UNDECIDED = /^No one approved or rejected the request within/;

type Snapshot = Map<string, Set<string>>;

/** The sample systems of one run, behind a connectors file every process reads. */
interface Systems {
  dir: string;
  file: string;
  people: SamplePerson[];
  stripe: StripeStandIn;
  zendesk: ZendeskStandIn;
  /** The test's own connectors to them (what the systems hold, read independently of the service). */
  connectors: Connector[];
  accounts: DataSource;
  close(): Promise<void>;
}

async function startSystems(): Promise<Systems> {
  const dir = tempDir("dsr-interleave-mix-");
  const people = samplePeople(10, { authEventsForAda: 40 });
  const { accounts, authLog } = await seedSampleDatabases(path.join(dir, "sample"), people);
  const stripe = await startStripeStandIn({ apiKey: STRIPE_KEY, people, stateFile: path.join(dir, "stripe.json") });
  const zendesk = await startZendeskStandIn({ email: "dsr-bot@sample.invalid", apiToken: ZENDESK_TOKEN, people, stateFile: path.join(dir, "zendesk.json") });
  Object.assign(ENV, { INTERLEAVE_ACCOUNTS_URL: `sqlite:${accounts}`, INTERLEAVE_AUTH_LOG_URL: `sqlite:${authLog}` });
  Object.assign(process.env, ENV);
  // The sample's account database, also correcting the address people are found by.
  const accountConfig = sampleAccountDbConfig();
  accountConfig.rectifiable = { ...accountConfig.rectifiable, email: { table: "users", column: "email" } };
  const file = path.join(dir, "connectors.json");
  const connectors = [
    { type: "sql", env: { url: "INTERLEAVE_ACCOUNTS_URL" }, options: accountConfig },
    { type: "auth-log", options: { store: "sql" }, env: { url: "INTERLEAVE_AUTH_LOG_URL" } },
    { type: "stripe", options: { name: "payments", host: "127.0.0.1", port: stripe.port, protocol: "http", timeoutMs: 10_000, redactionPollMs: 1000, accountMetadataKey: "user_id" }, env: { apiKey: "INTERLEAVE_STRIPE_KEY" } },
    { type: "zendesk", options: { name: "ticketing", baseUrl: zendesk.url, email: "dsr-bot@sample.invalid", requestsPerMinute: 6000, timeoutMs: 10_000, searchLagMs: 0 }, env: { apiToken: "INTERLEAVE_ZENDESK_TOKEN" } },
  ];
  fs.writeFileSync(file, JSON.stringify({ connectors }, null, 2));
  const own = await loadConnectorsFile(file);
  const ds = new DataSource({ type: "better-sqlite3", database: accounts });
  await ds.initialize();
  return {
    dir,
    file,
    people,
    stripe,
    zendesk,
    connectors: own,
    accounts: ds,
    async close() {
      for (const c of own) await (c as { close?: () => Promise<void> }).close?.().catch(() => undefined);
      await ds.destroy();
      await stripe.close();
      await zendesk.close();
    },
  };
}

async function snapshot(connectors: Connector[], ids: Identities): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const c of connectors) out.set(c.spec.name, new Set((await collectAll(c, ids, testContext())).map((r) => `${r.type}:${r.id}`)));
  return out;
}

/** The records of a downloaded export's data files, and the manifest's count of them. */
function exportedRecords(file: string): Promise<{ records: any[]; manifestRecords: number; text: string }> {
  const zip = ZipReader.open(file);
  return (async () => {
    try {
      const manifest = JSON.parse(await zip.text("manifest.json"));
      const records: any[] = [];
      let text = "";
      for (const f of manifest.files.filter((x: any) => x.category && (x.format === "json" || x.format === "jsonl"))) {
        const body = await zip.text(f.path);
        text += body;
        const parsed = f.format === "jsonl" ? body.split("\n").filter(Boolean).map((l: string) => JSON.parse(l)) : JSON.parse(body);
        records.push(...(Array.isArray(parsed) ? parsed : parsed.records));
      }
      const manifestRecords = manifest.files.filter((x: any) => x.category && (x.format === "json" || x.format === "jsonl")).reduce((n: number, f: any) => n + f.records, 0);
      return { records, manifestRecords, text };
    } finally {
      zip.close();
    }
  })();
}

describeEachDatabase("a randomized mix of concurrent requests, holds, corrections and purges", (db) => {
  for (const seed of SEEDS) {
    it(`tells the truth about what the systems hold, lost and kept (seed ${seed})`, async function () {
      this.timeout(180_000);
      const random = seededRandom(seed);
      const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const multiProcess = db().kind === "mariadb";
      const log: string[] = [];
      const sys = await startSystems();
      const workers = new WorkerProcesses(() => ({ DATABASE_URL: db().url, DSR_CONNECTORS_FILE: sys.file, DSR_DATA_DIR: path.join(sys.dir, "service"), ...ENV }));
      const fast = { DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_RATE_LIMIT_PER_SECOND: "0", DSR_CONNECTORS_FILE: sys.file, DSR_DATA_DIR: path.join(sys.dir, "service") };
      const t = new TestService(db(), { ...fast, DSR_WORKER_CONCURRENCY: multiProcess ? "0" : "4" }, null);
      // Worker processes run on the real clock: the serving process must agree with them (holds' fence marks compare the two).
      if (multiProcess) t.clock.set(new Date());
      await t.start();
      if (multiProcess) for (let i = 0; i < 2; i++) workers.start(3, { DSR_TASK_LEASE_MS: "5000" });
      const ticking = multiProcess ? undefined : setInterval(() => t.clock.advance(500), 100);
      try {
        const withAll = sys.people.filter((p) => p.ticketingUserId && p.paymentCustomerId && p.index > 1);
        const subjects = withAll.slice(0, 4);
        const [racerA, racerB] = sys.people.filter((p) => !subjects.includes(p)).slice(0, 2);
        const all = [...subjects, racerA, racerB];
        const idsOf = new Map<string, Identities>();
        const before = new Map<string, Snapshot>();
        for (const p of all) {
          const ids: Identities = { email: p.email, ...(await sys.connectors[0].resolve!({ email: p.email }, testContext())) };
          idsOf.set(p.email, ids);
          before.set(p.email, await snapshot(sys.connectors, ids));
        }

        const requests: { id: string; kind: string; email: string; value?: string }[] = [];
        const holds: { id: string; email: string; categories: string[]; snapshot: Snapshot; released: boolean }[] = [];
        const raced: { id: string; approved: boolean; cancelled: boolean }[] = [];
        const problems: string[] = [];
        const check = (ok: boolean, what: string) => void (ok || problems.push(what));

        const submitted = async (kind: string, email: string, input: Record<string, unknown>, approve = true) => {
          const r = await submit(t, { subject: { email }, identityVerified: true, verificationEvidence: `seed ${seed}`, ...input });
          requests.push({ id: r.id, kind, email, value: (input.corrections as any)?.[0]?.value });
          if (approve) {
            const a = await t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
            // A correction approved while an earlier one of its field is at work is refused (CONFLICT): corrections take effect in the order received.
            if (a.errors) check(a.errors[0].extensions.code === "CONFLICT" && input.type === "CORRECTION", `approving ${kind} answered ${a.errors[0].extensions.code}: ${a.errors[0].message}`);
            log.push(`${kind} ${r.id.slice(0, 8)} ${email}${a.errors ? " refused" : ""}`);
          }
          return r.id as string;
        };
        const ops: Record<string, () => Promise<void>> = {
          access: async () => void (await submitted("access", pick(subjects).email, { type: "ACCESS" })),
          deletion: async () => void (await submitted("deletion", pick(subjects).email, { type: "DELETION" })),
          duplicate: async () => {
            const who = pick(subjects).email;
            await Promise.all([submitted("deletion", who, { type: "DELETION" }), submitted("deletion", who, { type: "DELETION" })]);
          },
          name: async () => void (await submitted("name", pick(subjects).email, { type: "CORRECTION", corrections: [{ field: "name", value: `Name ${seed}-${Math.floor(random() * 1e6)}` }] })),
          emailRace: async () => {
            const wanted = `taken.${seed}.${requests.length}@example.com`;
            await Promise.all([
              submitted("email", racerA.email, { type: "CORRECTION", corrections: [{ field: "email", value: wanted }] }),
              submitted("email", racerB.email, { type: "CORRECTION", corrections: [{ field: "email", value: wanted.toUpperCase() }] }),
            ]);
          },
          hold: async () => {
            const who = pick(subjects).email;
            const categories = pick([["SUPPORT"], ["PAYMENTS"], ["AUTH_LOGS"], []]);
            // What the hold's categories hold when it is placed: never erased while it stands.
            const ids = idsOf.get(who)!;
            const kept = new Map<string, Set<string>>();
            const placed = await t.gql(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`, {
              input: { subjectEmail: who, categories, reason: `seed ${seed}`, caseReference: `S-${seed}` },
            });
            if (placed.errors) {
              check(placed.errors[0].extensions.code === "CONFLICT", `placeLegalHold answered ${placed.errors[0].extensions.code}: ${placed.errors[0].message}`);
              log.push(`hold refused`);
              return;
            }
            for (const c of sys.connectors) {
              if (categories.length && !c.spec.categories.some((x) => categories.includes(String(x)))) continue;
              const records = await collectAll(c, ids, testContext());
              kept.set(c.spec.name, new Set(records.filter((r) => !categories.length || categories.includes(String(r.category))).map((r) => `${r.type}:${r.id}`)));
            }
            const hold = { id: placed.data.placeLegalHold.id, email: who, categories, snapshot: kept, released: false };
            holds.push(hold);
            if (random() < 0.5) {
              await sleep(Math.floor(random() * 1500));
              await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "seed ${seed}") { id } }`, { id: hold.id });
              hold.released = true;
            }
          },
          reject: async () => {
            const r = await submit(t, { type: pick(["ACCESS", "DELETION"]), subject: { email: pick(subjects).email } });
            const how = pick(["rejectRequest", "cancelRequest"]);
            await t.ok(`mutation($id: ID!) { ${how}(id: $id, reason: "seed ${seed}") { id } }`, { id: r.id });
            requests.push({ id: r.id, kind: how, email: r.subject.email });
          },
          approveVsCancel: async () => {
            const id = await submitted("deletion", pick(subjects).email, { type: "DELETION" }, false);
            const [a, c] = await Promise.all([
              t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id }),
              t.gql(`mutation($id: ID!) { cancelRequest(id: $id, reason: "seed ${seed}") { id } }`, { id }),
            ]);
            raced.push({ id, approved: !a.errors, cancelled: !c.errors });
          },
          retentionPasses: async () => {
            // Past the auth logs' 90 days: what a deletion kept of them is purged (SQLite: the one clock).
            if (!multiProcess) t.clock.advance(100 * DAY);
          },
        };
        // One race for the address per run: the racers' later corrections would name addresses they no longer have.
        const kinds = Object.keys(ops).filter((k) => k !== "emailRace");
        const plan = ["emailRace", ...Array.from({ length: 9 }, () => pick(kinds))];
        log.push(...plan);
        await Promise.all(
          plan.map(async (kind) => {
            await sleep(Math.floor(random() * 2500));
            await ops[kind]();
          }),
        );

        // Every approved request ends, and a failure says why.
        const ended = new Map<string, any>();
        for (const r of requests) {
          let seen: any;
          const last = await t
            .waitFor(async () => {
              seen = (await t.ok(SHOW, { id: r.id })).request;
              return ["COMPLETED", "FAILED", "CANCELLED", "REJECTED", "PENDING_APPROVAL"].includes(seen.status) ? seen : undefined;
            }, `request ${r.id} (${r.kind}) ended`, 60_000)
            .catch((error: Error) => {
              const tasks = (seen?.tasks ?? []).map((x: any) => `${x.connector}:${x.step}:${x.status}${x.lastError ? ` (${x.lastError})` : ""}`).join(" ");
              throw new Error(`${error.message}: stuck ${seen?.status} ${seen?.statusReason ?? ""} ${tasks}`);
            });
          ended.set(r.id, last);
          if (last.status === "FAILED") check(!!last.statusReason, `${r.kind} ${r.id} FAILED without a reason`);
        }
        // Purges run once requests ended (and holds were released, or retention ran out): the clock stops, and
        // the sweeps that arm purges (every half lease) run twice more with nothing left to start, so that what
        // the requests say and what the systems hold are read in one state.
        // (While tasks are at work the clock moves, as above: redaction jobs are polled and retries wait on it.)
        if (ticking) clearInterval(ticking);
        const atWork = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE status NOT IN ('SUCCEEDED', 'FAILED', 'SKIPPED')`))[0].n);
        for (let quiet = false; !quiet; ) {
          await t.waitFor(async () => {
            if ((await atWork()) === 0) return true;
            if (!multiProcess) t.clock.advance(500);
            return undefined;
          }, "tasks settled", 60_000);
          await sleep(6000);
          quiet = (await atWork()) === 0;
        }
        for (const r of requests) ended.set(r.id, (await t.ok(SHOW, { id: r.id })).request);

        // An approval racing a cancellation: exactly one wins; a cancelled request did no work.
        for (const r of raced) {
          check(r.approved !== r.cancelled, `approve and cancel of ${r.id}: approved ${r.approved}, cancelled ${r.cancelled}`);
          const final = ended.get(r.id);
          if (r.cancelled) check(final.status === "CANCELLED" && final.tasks.every((x: any) => x.status === "SKIPPED" || x.status === "PENDING") && !final.tasks.some((x: any) => x.outcome?.erased), `cancelled ${r.id} is ${final.status} with work done`);
        }

        // Two people correcting to one address: at most one row holds it, and what each request says is so.
        const raceRequests = requests.filter((r) => r.kind === "email");
        for (const value of new Set(raceRequests.map((r) => r.value!.toLowerCase()))) {
          const pair = raceRequests.filter((r) => r.value!.toLowerCase() === value);
          const holders = await sys.accounts.query(`SELECT id, email FROM users WHERE lower(email) = ?`, [value]);
          check(holders.length <= 1, `${holders.length} account rows hold ${value}`);
          const completed = pair.filter((r) => ended.get(r.id).status === "COMPLETED");
          check(completed.length === holders.length, `${completed.length} corrections to ${value} COMPLETED, ${holders.length} row(s) hold it`);
          for (const r of pair) {
            const final = ended.get(r.id);
            const person = all.find((p) => p.email === r.email)!;
            if (final.status === "COMPLETED") check(holders[0]?.id === person.userId, `${r.email}: correction COMPLETED, the address is on row ${holders[0]?.id}`);
            else {
              // Or a legal hold on the person's account kept the row as it was (the RECTIFY names the fields it kept).
              const held = final.tasks.some((x: any) => x.outcome?.keptByHold?.length);
              check(final.tasks.some((x: any) => CLASH.test(x.lastError ?? "")) || held || final.status === "PENDING_APPROVAL" || UNDECIDED.test(final.statusReason ?? ""), `${r.email}: correction ${final.status} without the clash or a hold: ${final.statusReason}`);
              const [row] = await sys.accounts.query(`SELECT email FROM users WHERE id = ?`, [person.userId]);
              check(row?.email === person.email, `${r.email}: a refused correction changed the row to ${row?.email}`);
            }
          }
        }

        // A name correction COMPLETED last (in the order received) is what the row holds, while the row is there.
        for (const p of subjects) {
          const names = requests.filter((r) => r.kind === "name" && r.email === p.email && ended.get(r.id).status === "COMPLETED");
          const [row] = await sys.accounts.query(`SELECT name FROM users WHERE id = ?`, [p.userId]);
          if (row && names.length) check(row.name === names[names.length - 1].value, `${p.email}: the last COMPLETED correction set ${names[names.length - 1].value}, the row holds ${row.name}`);
        }

        // Holds never released kept every record of their categories (invariant 2).
        for (const h of holds.filter((x) => !x.released)) {
          const now = await snapshot(sys.connectors, idsOf.get(h.email)!);
          for (const [connector, records] of h.snapshot) {
            const lost = [...records].filter((x) => !now.get(connector)!.has(x));
            check(lost.length === 0, `hold ${h.id} (${h.categories.join("+") || "ALL"}) on ${h.email}: ${lost.length} held record(s) of ${connector} erased`);
          }
        }

        // Per person and system: what all of their requests say was erased never exceeds what left the system
        // (nothing erased or counted twice), and a COMPLETED deletion of a person no hold touched says what stays.
        for (const p of subjects) {
          const after = await snapshot(sys.connectors, idsOf.get(p.email)!);
          const mine = requests.filter((r) => r.email === p.email).map((r) => ended.get(r.id));
          // A duplicate (submitted while one of the person's deletions was open) is answered by that one: it names it, and ended with it.
          for (const dup of mine.filter((r) => r.duplicateOf && r.status !== "CANCELLED" && r.status !== "REJECTED")) {
            const original = ended.get(dup.duplicateOf) ?? (await t.ok(SHOW, { id: dup.duplicateOf })).request;
            check(requests.some((r) => r.id === dup.duplicateOf && r.email === p.email) && original.status === dup.status && dup.tasks.length === 0, `duplicate ${dup.id} of ${dup.duplicateOf}: ${dup.status} with ${dup.tasks.length} task(s), the original ${original.status}`);
          }
          const deletions = mine.filter((r) => r.type === "DELETION" && r.status === "COMPLETED" && !r.duplicateOf);
          for (const c of sys.connectors) {
            const name = c.spec.name;
            const gone = [...before.get(p.email)!.get(name)!].filter((x) => !after.get(name)!.has(x)).length;
            const erased = mine.flatMap((r) => r.tasks).filter((x: any) => x.connector === name && (x.step === "ERASE" || x.step === "PURGE")).reduce((n: number, x: any) => n + (x.outcome?.erased ?? 0), 0);
            check(erased <= gone, `${p.email} ${name}: requests report ${erased} erased, the system lost ${gone}`);
            if (!deletions.length) check(gone === 0, `${p.email} ${name}: no deletion COMPLETED, yet the system lost ${gone}`);
            const touched = holds.some((h) => h.email === p.email && (h.categories.length === 0 || c.spec.categories.some((x) => h.categories.includes(String(x)))));
            if (touched) continue;
            // What is left is what the person's deletions say they keep or left residual: no deletion says more
            // than is there, and nothing is there that none of them says. (A later deletion may not reach what an
            // earlier one kept: the account row that led to it is gone; it then says nothing of it.)
            const left = after.get(name)!.size;
            const claims = deletions.map((d) => ({
              id: d.id,
              says:
                d.retentionExceptions.filter((e: any) => e.connector === name && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0) +
                d.residualRecords.filter((e: any) => e.connector === name).reduce((n: number, e: any) => n + e.records, 0),
            }));
            if (claims.length) {
              const most = claims.reduce((a, b) => (b.says > a.says ? b : a));
              check(most.says <= left, `${p.email} ${name}: deletion ${most.id} says ${most.says} kept or residual, the system holds ${left}`);
              check(left <= claims.reduce((n, x) => n + x.says, 0), `${p.email} ${name}: the system holds ${left}, the deletions say ${claims.map((x) => `${x.id.slice(0, 8)} ${x.says}`).join(", ")} kept or residual`);
            }
            for (const d of deletions) {
              const certificate = (await t.ok(CERTIFICATE, { id: d.id })).deletionCertificate;
              const erase = d.tasks.find((x: any) => x.connector === name && x.step === "ERASE");
              check((certificate.erased.find((e: any) => e.connector === name)?.records ?? 0) === (erase?.outcome?.erased ?? 0), `${p.email} ${name}: deletion ${d.id}'s certificate and outcome disagree on what was erased`);
            }
          }
          // An export holds the person's records only: each one the systems held for them, none of anyone else's.
          for (const a of mine.filter((r) => r.type === "ACCESS" && r.status === "COMPLETED")) {
            const link = await t.gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id: a.id }, Role.PRIVACY_OFFICER);
            // Past the clock's jump, an export is older than its 30 days: refused, saying so, rather than a link to nothing.
            if (link.errors && plan.includes("retentionPasses") && /is no longer kept/.test(link.errors[0].message)) continue;
            check(!link.errors, `export link of ${a.id}: ${JSON.stringify(link.errors)}`);
            if (link.errors) continue;
            const got = await download(link.data.createExportLink.url);
            check(got.status === 200, `export of ${a.id} answered ${got.status}`);
            if (!got.file) continue;
            const { records, manifestRecords, text } = await exportedRecords(got.file);
            check(records.length === manifestRecords, `export ${a.id}: the manifest counts ${manifestRecords} records, its files hold ${records.length}`);
            const foreign = records.filter((r) => !before.get(p.email)!.get(r.connector)?.has(`${r.type}:${r.id}`));
            check(foreign.length === 0, `export ${a.id} of ${p.email}: ${foreign.length} record(s) the systems never held for them (${foreign.slice(0, 3).map((r) => `${r.connector} ${r.type}:${r.id}`).join(", ")})`);
            for (const other of all.filter((o) => o !== p)) check(!text.includes(other.email), `export ${a.id} of ${p.email} holds ${other.email}`);
          }
        }

        // The audit trail verifies, through GraphQL and the CLI.
        const v = (await t.ok(`query { verifyAuditTrail(full: true) { ok summary } }`, {}, Role.AUDITOR)).verifyAuditTrail;
        check(v.ok, `verifyAuditTrail: ${v.summary}`);
        const cli = await dsrAgainst(t, ["audit", "verify"]);
        check(cli.code === 0, `dsr audit verify exited ${cli.code}: ${cli.stdout}${cli.stderr}`);

        if (problems.length) {
          for (const r of requests) log.push(`\n        ${r.id.slice(0, 8)} ${r.kind} ${r.email} ${r.value ?? ""}: ${ended.get(r.id)?.status} ${(ended.get(r.id)?.tasks ?? []).map((x: any) => `${x.connector}:${x.step}:${x.status}`).join(" ")}`);
          for (const r of requests.filter((x) => x.kind === "deletion")) log.push(`\n        ${JSON.stringify(ended.get(r.id))}`);
          log.push(`\n        clock ${t.clock.now().toISOString()}; audit: ${JSON.stringify(await t.ds.query(`SELECT requestId, action, occurredAt FROM audit_events WHERE action LIKE 'task.%' OR action LIKE 'retention.%' ORDER BY occurredAt`))}`);
          throw new Error(problems.join("\n      "));
        }
      } catch (error) {
        (error as Error).message = `seed ${seed} (replay with DSR_TEST_INTERLEAVE_SEED=${seed}): ${(error as Error).message}\n      steps: ${log.join(", ")}`;
        throw error;
      } finally {
        if (ticking) clearInterval(ticking);
        workers.killAll();
        await t.stop();
        await sys.close();
        fs.rmSync(sys.dir, { recursive: true, force: true });
      }
    });
  }
  after(() => {
    for (const k of Object.keys(ENV)) if (k !== "INTERLEAVE_STRIPE_KEY" && k !== "INTERLEAVE_ZENDESK_TOKEN") delete process.env[k];
  });
});
