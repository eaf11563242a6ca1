import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { Role } from "../src/domain/enums";
import { describeEachOf, tempDir, TestDatabase } from "./support/databases";
import { mariadbOrSkip, WorkerProcesses } from "./support/workerProcesses";
import { submit, TEST_START, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { idempotencyKey } from "../src/orchestrator/sql/insertPlan";

/** Sweeps every 500 ms (half the lease), while purges run beside them: the window these tests aim at. */
const FAST = { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000", DSR_RATE_LIMIT_PER_SECOND: "0" };
const DAY = 86_400_000;
/**
 * The dsr worker processes: they run on the real clock, the serving process on the test's (TEST_START,
 * months earlier), so to them a request just submitted is long past its due date, and their sweep of
 * verified requests nobody decided (DSR_UNDECIDED_GRACE_DAYS after it) rejected one between its submission
 * and its approval (CONFLICT at approveRequest). Graces longer than the clocks' disagreement keep the
 * sweeps out of what this file tests; production's processes share one clock.
 */
const WORKER_ENV = { DSR_TASK_LEASE_MS: "1000", DSR_WORKER_POLL_MS: "10", DSR_UNDECIDED_GRACE_DAYS: "3650", DSR_MANUAL_TASK_GRACE_DAYS: "3650" };
const PEOPLE = 24;
const HELD = 3;
const email = (i: number) => `person${i}@example.com`;
const SHOW = `query($id: ID!) { request(id: $id) { status tasks { connector step status attempts outcome { erased kept } } retentionExceptions { category holdId recordCount status } } }`;

/**
 * A PURGE is armed by the sweep every worker runs (schedulePurges), from a list of due exceptions it
 * read before arming each one. A purge that ends between that read and the arming has closed the
 * exceptions already: arming its task again would run the erasure once more under a new key, and its
 * second, empty run would overwrite the first one's outcome (what it erased, residue it named).
 */
describeEachOf(["sqlite", "mariadb"], "purges armed while other purges end", (db) => {
  const services: TestService[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
  });

  it(`runs each released hold's purge once, and its outcome says what it erased (${PEOPLE} people, sweeps racing purges)`, async function () {
    this.timeout(60_000);
    const old = new Date(TEST_START.getTime() - 6 * 365 * DAY);
    const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] });
    for (let i = 0; i < PEOPLE; i++) tickets.seedDated(email(i), Array.from({ length: HELD }, () => old));
    tickets.delayMs = 5;
    const t = await new TestService(db(), FAST, [tickets]).start();
    services.push(t);
    if (db().kind === "mariadb") {
      // A second instance on the same database: its start empties the shared tables, so its tokens serve both; its worker's sweeps race the first's purges.
      const other = await new TestService(db(), FAST, [tickets]).start();
      services.push(other);
      Object.assign(t.tokens, other.tokens);
    }

    const holds: string[] = [];
    const requests: string[] = [];
    for (let i = 0; i < PEOPLE; i++) {
      const { placeLegalHold } = await t.ok(
        `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`,
        { input: { subjectEmail: email(i), categories: ["SUPPORT"], reason: "litigation", caseReference: `CASE-${i}` } },
        Role.PRIVACY_OFFICER,
      );
      holds.push(placeLegalHold.id);
      const r = await submit(t, { type: "DELETION", subject: { email: email(i) }, identityVerified: true, verificationEvidence: "signed-in session" });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      requests.push(r.id);
    }
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    for (const id of requests) await t.waitFor(async () => ((await show(id)).status === "COMPLETED" ? true : undefined), "deletion completed", 30_000);
    expect(tickets.data.size, "every held record is still there").to.equal(PEOPLE);

    for (const id of holds) await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`, { id }, Role.PRIVACY_OFFICER);
    await t.waitFor(async () => {
      const all = await Promise.all(requests.map(show));
      return all.every((r) => r.retentionExceptions.every((e: any) => e.status === "CLOSED")) ? all : undefined;
    }, "every held set purged", 30_000);
    expect(tickets.data.size, "the system holds nothing of them").to.equal(0);
    // Sweeps go on: long enough for several of each instance's to see what the purges left, and to run what they armed.
    await new Promise((r) => setTimeout(r, 1_500));
    await t.waitFor(async () => (Number((await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE step = 'PURGE' AND status <> 'SUCCEEDED'`))[0].n) === 0 ? true : undefined), "purges ended");

    const armed = Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'task.purge_scheduled'`))[0].n);
    expect(armed, "one purge armed per released hold").to.equal(PEOPLE);
    const eraseKeys = new Set(requests.map((id) => idempotencyKey(id, "tickets", "ERASE")));
    const purgeKeys = tickets.calls.filter((c) => c.step === "erase" && !eraseKeys.has(c.idempotencyKey)).map((c) => c.idempotencyKey);
    const purges = (await Promise.all(requests.map(show))).map((r, i) => ({ i, purge: r.tasks.find((x: any) => x.step === "PURGE") }));
    // An attempt whose lease ran out on a busy machine may have erased before it stopped: its retry no
    // longer finds those records (a unit under way when an attempt stops is not counted; see the README).
    const wrong = purges.filter(({ purge }) => purge?.status !== "SUCCEEDED" || (purge.attempts === 1 && purge.outcome?.erased !== HELD));
    expect(wrong.map(({ i, purge }) => `${email(i)}: ${purge?.status} erased ${purge?.outcome?.erased}`), "each purge's outcome counts the records it erased").to.deep.equal([]);
    expect(new Set(purgeKeys).size, "one erasure per purge reached the system").to.equal(PEOPLE);
  });
});

/**
 * An export whose retention ended is deleted by the purge every worker runs every ten minutes
 * (PURGE_INTERVAL_MS), in any process: until one gets to it, its row is still there. A link handed out
 * in that window leads nowhere (it expired when it was made, or its file goes under it), yet the answer
 * and the audit trail said a link was created.
 */
describeEachOf(["sqlite", "mariadb"], "export links asked for while an export's retention ends", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
  });

  it("refuses a link to an export whose retention ended before the purge removed it, with the reason, writing no audit event", async function () {
    this.timeout(30_000);
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed("ada.lovelace@example.com", 3);
    t = await new TestService(db(), { ...FAST, DSR_WORKER_CONCURRENCY: "2" }, [account]).start();
    const r = await submit(t, { type: "ACCESS", identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => ((await t!.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request.status === "COMPLETED" ? true : undefined), "access completed");
    const LINK = `mutation($id: ID!) { createExportLink(requestId: $id) { url expiresAt } }`;
    const before = await t.ok(LINK, { id: r.id }, Role.PRIVACY_OFFICER);
    expect(Date.parse(before.createExportLink.expiresAt)).to.be.greaterThan(t.clock.now().getTime());

    // The export's 30 days end; no purge has run since.
    t.clock.advance(30 * DAY + 60_000);
    const links = async () => Number((await t!.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE requestId = ? AND action = 'export.link_created'`, [r.id]))[0].n);
    const made = await links();
    const late = await t.gql(LINK, { id: r.id }, Role.PRIVACY_OFFICER);
    expect(late.data?.createExportLink ?? null, `a link was handed out: ${JSON.stringify(late.data)}`).to.equal(null);
    expect(late.errors?.[0].extensions?.code).to.equal("CONFLICT");
    expect(late.errors?.[0].message).to.match(/no longer kept/);
    expect(await links(), "no link was created").to.equal(made);
  });
});

/**
 * The same race between real `dsr worker` processes: every task, the purges included, runs in one of
 * two workers, whose sweeps arm purges beside the other's running ones; the system is a MariaDB table
 * behind the declarative SQL connector.
 */
describe("purges armed by two dsr worker processes [mariadb]", function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let dir: string;
  let t: TestService | undefined;
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db.url, TICKETS_DB_URL: db.url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir }));
  before(async function () {
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-purge-race-");
    const conn = await mysql.createConnection({ uri: db.url });
    await conn.query("CREATE TABLE held_tickets (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL, note VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL, INDEX (email))");
    // Six years old: past the 5-year rule, so only the holds keep them.
    const old = new Date(Date.now() - 6 * 365 * DAY);
    for (let i = 0; i < PEOPLE; i++) for (let n = 0; n < HELD; n++) await conn.query("INSERT INTO held_tickets (email, note, created_at) VALUES (?, ?, ?)", [email(i), `ticket ${n}`, old]);
    await conn.end();
    const table = { table: "held_tickets", identityColumn: "email", identityKind: "email", category: "SUPPORT", recordType: "ticket", primaryKey: "id", exportColumns: ["note"], recordedAtColumn: "created_at", erase: { strategy: "DELETE" } };
    // The serving process builds the connectors too (it plans the tasks).
    process.env.TICKETS_DB_URL = db.url;
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "sql", env: { url: "TICKETS_DB_URL" }, options: { name: "tickets", version: "1.0.0", tables: [table] } }] }));
  });
  after(async () => {
    workers.killAll();
    await t?.stop();
    await db?.drop();
    delete process.env.TICKETS_DB_URL;
  });

  it(`arms each released hold's purge once across processes, and each purge's outcome counts what it erased (${PEOPLE} people)`, async () => {
    const svc = (t = await new TestService(db, { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0" }, null).start());
    const holds: string[] = [];
    const requests: string[] = [];
    for (let i = 0; i < PEOPLE; i++) {
      const { placeLegalHold } = await svc.ok(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`, { input: { subjectEmail: email(i), categories: ["SUPPORT"], reason: "litigation", caseReference: `CASE-${i}` } }, Role.PRIVACY_OFFICER);
      holds.push(placeLegalHold.id);
      const r = await submit(svc, { type: "DELETION", subject: { email: email(i) }, identityVerified: true, verificationEvidence: "signed-in session" });
      await svc.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      requests.push(r.id);
    }
    // The workers start once the holds are placed: they run on the real clock, the serving process on the
    // test's (months earlier), so a worker's purge of idle fences took a placement's mark for run out and
    // removed it mid-placement (the hold refused as late, in 2 of 4 runs). Their clocks never disagree so in production.
    for (let i = 0; i < 2; i++) workers.start(4, WORKER_ENV);
    const show = async (id: string) => (await svc.ok(SHOW, { id })).request;
    const rows = async () => Number((await svc.ds.query(`SELECT COUNT(*) AS n FROM held_tickets`))[0].n);
    for (const id of requests) await svc.waitFor(async () => ((await show(id)).status === "COMPLETED" ? true : undefined), "deletion completed", 30_000);
    expect(await rows(), "every held record is still there").to.equal(PEOPLE * HELD);

    for (const id of holds) await svc.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`, { id }, Role.PRIVACY_OFFICER);
    await svc.waitFor(async () => ((await Promise.all(requests.map(show))).every((r) => r.retentionExceptions.every((e: any) => e.status === "CLOSED")) ? true : undefined), "every held set purged", 30_000);
    expect(await rows(), "the system holds nothing of them").to.equal(0);
    await new Promise((r) => setTimeout(r, 1_500));
    await svc.waitFor(async () => (Number((await svc.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE step = 'PURGE' AND status <> 'SUCCEEDED'`))[0].n) === 0 ? true : undefined), "purges ended");
    const armed = Number((await svc.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'task.purge_scheduled'`))[0].n);
    const purges = (await Promise.all(requests.map(show))).map((r, i) => ({ i, purge: r.tasks.find((x: any) => x.step === "PURGE") }));
    const wrong = purges.filter(({ purge }) => purge?.status !== "SUCCEEDED" || (purge.attempts === 1 && purge.outcome?.erased !== HELD));
    expect(armed, "one purge armed per released hold").to.equal(PEOPLE);
    expect(wrong.map(({ i, purge }) => `${email(i)}: ${purge?.status} erased ${purge?.outcome?.erased}`), "each purge's outcome counts the records it erased").to.deep.equal([]);
  });

  /**
   * Holds placed again while the two workers purge the released sets: once a placement returns, no row
   * of that person leaves the table (invariant 2, across processes), and each request's open exceptions
   * count exactly the rows the table still holds of its person, naming the hold that keeps them.
   */
  it(`erases nothing of a person once a hold placed mid-purge returns, and each request's exceptions count what the table holds (${PEOPLE} people)`, async () => {
    const conn = await mysql.createConnection({ uri: db.url });
    try {
      await conn.query("DELETE FROM held_tickets");
      const old = new Date(Date.now() - 6 * 365 * DAY);
      for (let i = 0; i < PEOPLE; i++) for (let n = 0; n < HELD; n++) await conn.query("INSERT INTO held_tickets (email, note, created_at) VALUES (?, ?, ?)", [email(i), `ticket ${n}`, old]);
      const svc = (t = await new TestService(db, { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0" }, null).start());
      // A placement refused (CONFLICT: a purge's step under way outlasted the wait) placed nothing: placed again, as its message says.
      const place = async (i: number): Promise<string> => {
        for (let tries = 0; ; tries++) {
          const r = await svc.gql(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`, { input: { subjectEmail: email(i), categories: ["SUPPORT"], reason: "litigation", caseReference: `CASE-${i}` } }, Role.PRIVACY_OFFICER);
          if (!r.errors) return r.data.placeLegalHold.id;
          if (r.errors[0].extensions?.code !== "CONFLICT" || tries === 20) throw new Error(JSON.stringify(r.errors));
        }
      };
      const holds: string[] = [];
      const requests: string[] = [];
      for (let i = 0; i < PEOPLE; i++) {
        holds.push(await place(i));
        const r = await submit(svc, { type: "DELETION", subject: { email: email(i) }, identityVerified: true, verificationEvidence: "signed-in session" });
        await svc.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
        requests.push(r.id);
      }
      if (workers.running.size < 2) for (let i = workers.running.size; i < 2; i++) workers.start(4, WORKER_ENV);
      const show = async (id: string) => (await svc.ok(SHOW, { id })).request;
      const rowsOf = async (i: number) => Number((await svc.ds.query(`SELECT COUNT(*) AS n FROM held_tickets WHERE email = ?`, [email(i)]))[0].n);
      for (const id of requests) await svc.waitFor(async () => ((await show(id)).status === "COMPLETED" ? true : undefined), "deletion completed", 30_000);

      // Every hold released, and a new one placed on every other person while the purges run.
      for (const id of holds) await svc.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`, { id }, Role.PRIVACY_OFFICER);
      const again = new Map<number, { hold: string; rows: number }>();
      await Promise.all(
        Array.from({ length: PEOPLE / 2 }, async (_, k) => {
          const i = 2 * k;
          const hold = await place(i);
          again.set(i, { hold, rows: await rowsOf(i) });
        }),
      );
      await svc.waitFor(
        async () => ((await Promise.all(requests.map(show))).every((r, i) => r.retentionExceptions.every((e: any) => e.status === "CLOSED" || (again.has(i) && e.holdId === again.get(i)!.hold))) ? true : undefined),
        "every set purged or kept by the new hold",
        60_000,
      );
      await new Promise((r) => setTimeout(r, 1_500));
      await svc.waitFor(async () => (Number((await svc.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE step = 'PURGE' AND status NOT IN ('SUCCEEDED', 'FAILED')`))[0].n) === 0 ? true : undefined), "purges ended");
      const wrong: string[] = [];
      for (let i = 0; i < PEOPLE; i++) {
        const r = await show(requests[i]);
        const rows = await rowsOf(i);
        const open = r.retentionExceptions.filter((e: any) => e.status === "OPEN");
        const held = again.get(i);
        if (held && rows !== held.rows) wrong.push(`${email(i)}: ${held.rows} rows when the hold returned, ${rows} now`);
        if (!held && rows !== 0) wrong.push(`${email(i)}: ${rows} rows left without a hold`);
        if (open.reduce((n: number, e: any) => n + e.recordCount, 0) !== rows) wrong.push(`${email(i)}: exceptions ${JSON.stringify(open)} for ${rows} rows`);
        if (open.some((e: any) => e.holdId !== held?.hold)) wrong.push(`${email(i)}: an open exception not naming the new hold`);
        const purge = r.tasks.find((x: any) => x.step === "PURGE");
        if (purge && purge.status !== "SUCCEEDED") wrong.push(`${email(i)}: purge ${purge.status}`);
      }
      expect(wrong).to.deep.equal([]);
    } finally {
      await conn.end();
    }
  });
});
