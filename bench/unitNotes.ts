/**
 * What the notes of units of erasure cost: Ada's deletion of 1,000 notes through the declarative HTTP
 * connector (one DELETE, one noted unit each) against the REST stand-in, on SQLite and on MariaDB, run
 * as shipped and with its units' notes left off (the same connector, its eraseUnit called without a
 * note), alternately in one run. Timed from the first DELETE the stand-in answered to the last (the
 * erasure's loop; survey and verification left out), and the whole request beside it, with the
 * statements the service sent over the request, per record.
 *
 *   npm run bench:unitnotes                      # SQLite, then MariaDB at DSR_TEST_MYSQL_URL (or 127.0.0.1:3306)
 *   BENCH_RECORDS=300 BENCH_ROUNDS=1 npm run bench:unitnotes
 */
import type { Connector, TaskContext } from "../src/connectors/sdk";
import { createHttpConnector } from "../src/connectors/http";
import { createMariadbDatabase, createSqliteDatabase, TestDatabase } from "../test/support/databases";
import { submit, TestService } from "../test/support/harness";
import { REST_TOKEN, restConfig, RestStandIn } from "../test/connectors/support/restStandIn";
import { spyOn } from "../test/connectors/support/statementSpy";

const RECORDS = Number(process.env.BENCH_RECORDS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status deletionOutcome { category erased matchesPlan } } }`;

/** The connector with every unit's note left off (what a unit costs without one). */
function withoutNotes(inner: Connector): Connector {
  const erase = inner.erase!.bind(inner);
  return Object.assign(Object.create(inner) as Connector, {
    erase: (ids: Parameters<typeof erase>[0], instruction: Parameters<typeof erase>[1], ctx: TaskContext) =>
      erase(ids, instruction, { ...ctx, eraseUnit: (category, work, _note, options) => ctx.eraseUnit(category, work, undefined, options) }),
  });
}

async function once(db: TestDatabase, noted: boolean): Promise<{ loopMs: number; totalMs: number; erased: number; statements: number }> {
  const standIn = await new RestStandIn().start();
  standIn.notes = standIn.notes.filter((n) => n.user !== 1);
  for (let i = 0; i < RECORDS; i++) standIn.notes.push({ id: `n-b${i}`, user: 1, text: `note ${i}`, created_at: "2001-01-01T00:00:00.000Z" });
  const http = createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: REST_TOKEN });
  const t = await new TestService(db, { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "30000" }, [noted ? http : withoutNotes(http)]).start();
  // Every statement the service sends over the request (transactions' BEGIN and COMMIT included).
  const statements = spyOn(t.ds);
  try {
    const started = performance.now();
    // The service's clock stands still: a lease outlives the run, whatever it takes on a loaded machine.
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const request = await t.waitFor(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request ended",
      600_000,
    );
    const totalMs = performance.now() - started;
    if (request.status !== "COMPLETED" || standIn.notes.some((n) => n.user === 1)) throw new Error(`the deletion did not erase every note: ${JSON.stringify(request)}`);
    const deletes = standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/notes/"));
    const support = request.deletionOutcome.find((l: any) => l.category === "SUPPORT");
    return { loopMs: deletes[deletes.length - 1].at - deletes[0].at, totalMs, erased: support.erased, statements: statements.length };
  } finally {
    await t.stop();
    await standIn.stop();
  }
}

async function main(): Promise<void> {
  for (const [kind, create] of [["sqlite", createSqliteDatabase], ["mariadb", createMariadbDatabase]] as const) {
    const db = await create();
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const noted of [true, false]) {
          const r = await once(db, noted);
          console.log(`${kind} round ${round} ${noted ? "noted  " : "unnoted"}: ${RECORDS} DELETEs in ${r.loopMs.toFixed(0)} ms (${(r.loopMs / RECORDS).toFixed(2)} ms each), request ${r.totalMs.toFixed(0)} ms, ${(r.statements / RECORDS).toFixed(1)} statements a record, erased ${r.erased}`);
        }
      }
    } finally {
      await db.drop();
    }
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
