import { expect } from "chai";
import pino from "pino";
import { collectAll, testContext } from "../src/connectors/testing/conformance";
import type { Connector, Identities } from "../src/connectors/sdk";
import { seededRandom } from "../src/sample/people";
import { startSampleWorkspace, SampleWorkspace } from "../src/sample/workspace";
import { describeEachDatabase, tempDir } from "./support/databases";
import { submit, TestService } from "./support/harness";

/**
 * Randomized interleavings of deletions on the sample workspace's real connectors: holds placed (some
 * while a stand-in call is held mid-erasure) and released, the service restarted or killed (its
 * database connections cut mid-work: TestService.crash), duplicates submitted,
 * each at a seeded random point. Afterwards the systems themselves are compared with what the requests
 * say. `DSR_TEST_INTERLEAVE_SEED=<n>` replays one seed; `DSR_TEST_INTERLEAVE_RUNS=<n>` runs more seeds.
 */
const REPLAY = process.env.DSR_TEST_INTERLEAVE_SEED;
const RUNS = Number(process.env.DSR_TEST_INTERLEAVE_RUNS ?? 4);
const SEEDS = REPLAY ? [Number(REPLAY)] : Array.from({ length: RUNS }, (_, i) => 1000 + i * 7919);
const CATEGORY_SETS = [["SUPPORT"], ["PAYMENTS"], ["AUTH_LOGS"], ["SUPPORT", "PAYMENTS"], []];
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason duplicateOf tasks { connector step status outcome { erased kept remaining } }
  deletionOutcome { connector differences { kind records } }
  retentionExceptions { connector category recordCount holdId status } residualRecords { connector records } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records } kept { connector records status } } }`;

/** What one run did, for the figures printed at the end. */
const figures = { runs: 0, holdsPlaced: 0, holdsMidErasure: 0, holdsRefused: 0, releases: 0, restarts: 0, crashes: 0, leasesTakenBack: 0, goneBeforeRetry: 0, duplicates: 0, mismatches: 0 };

type Snapshot = Map<string, Set<string>>;

async function snapshot(connectors: Connector[], ids: Identities, categories?: readonly string[]): Promise<Snapshot> {
  const out: Snapshot = new Map();
  for (const c of connectors) {
    const records = await collectAll(c, ids, testContext());
    out.set(c.spec.name, new Set(records.filter((r) => !categories || categories.length === 0 || categories.includes(String(r.category))).map((r) => `${r.type}:${r.id}`)));
  }
  return out;
}

describeEachDatabase("randomized interleavings of deletions, holds, restarts and duplicates", (db) => {
  for (const seed of SEEDS) {
    it(`keeps every held record, calls nothing erased that stays, and counts alike everywhere (seed ${seed})`, async function () {
      this.timeout(120_000);
      const random = seededRandom(seed);
      const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const ws: SampleWorkspace = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 300, people: 12 });
      const t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_SHUTDOWN_GRACE_SECONDS: "1", DSR_HOLD_WAIT_MS: String(pick([200, 3000])) }, ws.connectors).start();
      const log: string[] = [];
      // The remote systems take their time, so the deletion's work spans the steps below (without it the
      // erasure has mostly ended before the first step, and holds, restarts and kills meet finished work).
      ws.zendesk.faults.latencyMs = pick([0, 30, 80]);
      ws.stripe.faults.latencyMs = pick([0, 30, 80]);
      try {
        const person = pick(ws.people.filter((p) => p.ticketingUserId && p.paymentCustomerId));
        const ids: Identities = { email: person.email, ...(await ws.connectors[0].resolve!({ email: person.email }, testContext())) };
        const before = await snapshot(ws.connectors, ids);
        const r = await submit(t, { type: "DELETION", subject: { email: person.email }, identityVerified: true, verificationEvidence: `seed ${seed}` });
        await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
        const protectedBy = new Map<string, Snapshot>();
        /** The categories of every hold placed (empty: all), released or not. */
        const held: string[][] = [];
        const duplicates: string[] = [];

        const placeHold = async (categories: string[]) => {
          const placed = await t.gql(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`, {
            input: { subjectEmail: person.email, categories, reason: `seed ${seed}`, caseReference: `S-${seed}` },
          });
          if (placed.errors) {
            expect(placed.errors[0].extensions.code, placed.errors[0].message).to.equal("CONFLICT");
            figures.holdsRefused += 1;
            log.push(`hold ${categories.join("+") || "ALL"} refused`);
            return;
          }
          figures.holdsPlaced += 1;
          held.push(categories);
          protectedBy.set(placed.data.placeLegalHold.id, await snapshot(ws.connectors, ids, categories));
          log.push(`hold ${categories.join("+") || "ALL"} placed`);
        };

        for (let step = 0, steps = 2 + Math.floor(random() * 4); step < steps; step++) {
          await sleep(Math.floor(random() * 1200));
          // The service clock moves too, so remote work (payment redaction jobs, polled each second on it)
          // advances between the steps and holds meet it at every stage.
          t.clock.advance(Math.floor(random() * 3000));
          const action = pick(["hold", "holdMid", "release", "restart", "crash", "duplicate"] as const);
          log.push(`+${action}`);
          if (action === "hold") await placeHold(pick(CATEGORY_SETS));
          else if (action === "holdMid") {
            // Hold a ticketing write in flight, place the hold meanwhile, then let the write go.
            const pause = ws.zendesk.faults.pause({ method: pick(["DELETE", "PUT"]) });
            const reached = await Promise.race([pause.reached.then(() => true), sleep(1500).then(() => false)]);
            if (reached) figures.holdsMidErasure += 1;
            const placing = placeHold(pick([["SUPPORT"], []]));
            await sleep(100 + Math.floor(random() * 300));
            pause.release();
            await placing;
            ws.zendesk.faults.clear();
          } else if (action === "release" && protectedBy.size) {
            const id = pick([...protectedBy.keys()]);
            await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "seed ${seed}") { id } }`, { id });
            protectedBy.delete(id);
            figures.releases += 1;
          } else if (action === "restart") {
            await t.restart();
            figures.restarts += 1;
          } else if (action === "crash") {
            await t.crash();
            figures.crashes += 1;
          } else if (action === "duplicate") {
            const d = await submit(t, { type: "DELETION", subject: { email: person.email }, identityVerified: true, verificationEvidence: `seed ${seed} again` });
            await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: d.id });
            duplicates.push(d.id);
            figures.duplicates += 1;
          }
        }

        const ended = async (id: string) => {
          let last: any;
          try {
            return await t.waitFor(async () => {
              // Time passes on the service clock too: a payment redaction job parked in REMOTE_PROCESSING is
              // polled a second later on that clock, and the stand-in moves it one step per poll.
              t.clock.advance(1000);
              last = (await t.ok(SHOW, { id })).request;
              return ["COMPLETED", "FAILED"].includes(last.status) ? last : undefined;
            }, `request ${id} ended`, 60_000);
          } catch (error) {
            const tasks = (last?.tasks ?? []).map((x: any) => `${x.connector}:${x.step}:${x.status}`).join(" ");
            (error as Error).message += ` (last seen ${last?.status}: ${tasks})`;
            throw error;
          }
        };
        const done = await ended(r.id);
        // Purges run on release: let the workers settle before comparing.
        await sleep(500);
        const final = (await t.ok(SHOW, { id: r.id })).request;
        const after = await snapshot(ws.connectors, ids);
        const problems: string[] = [];
        const check = (ok: boolean, what: string) => void (ok || problems.push(what));

        check(done.status === "COMPLETED", `the deletion ${done.status}: ${done.statusReason}`);
        for (const d of duplicates) {
          const dup = await ended(d);
          check(dup.status === done.status || (dup.duplicateOf === null && dup.status === "COMPLETED"), `duplicate ${d} ended ${dup.status}, the original ${done.status}`);
        }
        // Zero held records lost: what a hold's categories held when it was placed is still there.
        for (const [hold, held] of protectedBy) {
          for (const [connector, records] of held) {
            const lost = [...records].filter((x) => !after.get(connector)!.has(x));
            check(lost.length === 0, `hold ${hold}: ${lost.length} held record(s) of ${connector} lost`);
          }
        }
        // Every connector: never more reported erased than left the system (zero residue called erased).
        // Connectors no hold ever reached: the outcome, the exceptions and the certificate agree with it.
        const certificate = (await t.ok(CERTIFICATE, { id: r.id })).deletionCertificate;
        for (const c of ws.connectors) {
          const name = c.spec.name;
          const erase = final.tasks.find((x: any) => x.connector === name && x.step === "ERASE");
          const left = after.get(name)!.size;
          const gone = before.get(name)!.size - left;
          check((erase?.outcome.erased ?? 0) <= gone, `${name}: reported erased ${erase?.outcome.erased}, but the system lost only ${gone}`);
          if (c.spec.categories.some((category) => held.some((h) => h.length === 0 || h.includes(String(category))))) continue;
          // An attempt killed (or handed back) mid-erasure erased records its retry no longer finds: units
          // that ended are carried over as erased (erasure_progress); what a unit under way at the kill
          // erased is named instead, as records of the plan no longer there when erasure ran
          // (FEWER_RECORDS). Erased plus those is what left the system.
          const fewer = final.deletionOutcome
            .filter((o: any) => o.connector === name)
            .flatMap((o: any) => o.differences)
            .filter((d: any) => d.kind === "FEWER_RECORDS")
            .reduce((n: number, d: any) => n + d.records, 0);
          figures.goneBeforeRetry += fewer;
          check(erase?.outcome.erased + fewer === gone, `${name}: reported erased ${erase?.outcome.erased} and ${fewer} gone before the erasure ran, the system lost ${gone}`);
          check((erase?.outcome.remaining ?? 0) === left, `${name}: reported remaining ${erase?.outcome.remaining}, the system holds ${left}`);
          const kept = final.retentionExceptions.filter((e: any) => e.connector === name && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
          // Residual records (what stays on a thread another customer wrote on) are still there too; collect
          // no longer finds them once nothing is kept, because the ticketing user then goes.
          const residual = final.residualRecords.filter((e: any) => e.connector === name).reduce((n: number, e: any) => n + e.records, 0);
          check(kept + residual === left || (kept === 0 && left === 0), `${name}: exceptions keep ${kept} and ${residual} are residual, the system holds ${left}`);
          check((certificate.erased.find((e: any) => e.connector === name)?.records ?? 0) === erase?.outcome.erased, `${name}: the certificate's erased count differs from the outcome`);
        }
        // Whatever a hold still keeps is covered by an open exception.
        for (const [, held] of protectedBy) {
          for (const [connector, records] of held) {
            const kept = final.retentionExceptions.filter((e: any) => e.connector === connector && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
            check(kept >= [...records].filter((x) => after.get(connector)!.has(x)).length, `${connector}: held records without an exception`);
          }
        }
        // Tasks a killed instance was running (of any of the requests), taken back by the next one's sweeper when their leases ran out.
        figures.leasesTakenBack += await t.count(`audit_events WHERE action = 'task.lease_expired'`);
        figures.runs += 1;
        figures.mismatches += problems.length;
        if (problems.length) throw new Error(`seed ${seed} (replay with DSR_TEST_INTERLEAVE_SEED=${seed}): ${problems.join("; ")}\n      steps: ${log.join(", ")}`);
      } catch (error) {
        if (!String((error as Error).message).includes("replay with")) (error as Error).message = `seed ${seed} (replay with DSR_TEST_INTERLEAVE_SEED=${seed}): ${(error as Error).message}\n      steps: ${log.join(", ")}`;
        throw error;
      } finally {
        await t.stop();
        await ws.close();
      }
    });
  }

  after(() => console.log(`      interleavings: ${JSON.stringify(figures)}`));
});
