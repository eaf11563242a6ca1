import path from "node:path";
import { expect } from "chai";
import pino from "pino";
import { DataSource } from "typeorm";
import { eventKey, recordedAtOfKey } from "../../src/connectors/authLog/events";
import { collectAll } from "../../src/connectors/testing/conformance";
import type { Identities } from "../../src/connectors/sdk";
import { shiftByPeriod } from "../../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { othersWroteOn } from "../connectors/support/zendeskStandIn";
import { submit, TEST_START, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const ADA_TICKETING_ID = 360000000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category plannedFound plannedToKeep erased kept residual matchesPlan differences { kind records } }
  retentionExceptions { connector category recordType recordCount retainUntil status } residualRecords { connector recordType records } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { kept { connector category records retainUntil status } } }`;
const FIVE_YEARS = { years: 5, days: 0 };

const NINETY_DAYS = { years: 0, days: 90 };

const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);

/**
 * Records the subject writes while a deletion is under way (a reply to a support thread the 5-year rule
 * keeps, a login while the account database still holds them) are kept or erased like the rest: the
 * exceptions, the outcome and the certificate count them and date them as the systems hold them.
 */
describeEachDatabase("records written while a deletion erases", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  let authLog: DataSource | undefined;
  afterEach(async () => {
    await authLog?.destroy();
    authLog = undefined;
    await t?.stop();
    await ws?.close();
  });

  /** The sample workspace and the service; returns the workspace's data folder. */
  async function start(): Promise<string> {
    const dataDir = tempDir();
    ws = await startSampleWorkspace({ dataDir, logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
    return dataDir;
  }

  async function approvedDeletion(): Promise<string> {
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id;
  }

  /** Waits for the request to end; the clock ticks so that polls of Stripe's redaction jobs come due. */
  const finished = (id: string): Promise<any> =>
    t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id })).request;
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 90_000);

  it("looks at the auth log again once the account database is erased: a login made while other systems were still erasing is kept, counted and dated", async function () {
    this.timeout(120_000);
    const dataDir = await start();
    authLog = await new DataSource({ type: "better-sqlite3", database: path.join(dataDir, "sample", "auth-log.sqlite") }).initialize();
    const ada = ws.people.find((p) => p.email === ADA)!;
    const eventsOfAda = async (): Promise<string[]> => (await authLog!.query(`SELECT event_key AS k FROM auth_events WHERE user_id = ?`, [ada.userId])).map((r: { k: string }) => r.k);

    const id = await approvedDeletion();
    // The clock stands still, so the payments erasure waits for Stripe's redaction jobs: the account
    // database (the identity source, erased last) still holds Ada, and she can still sign in.
    await t.waitFor(async () => {
      const now = (await t.ok(`query($id: ID!) { request(id: $id) { tasks { connector step status } } }`, { id })).request;
      const status = (c: string) => now.tasks.find((x: any) => x.connector === c && x.step === "ERASE").status;
      return status("auth-log") === "SUCCEEDED" && status("account-db") === "PENDING" ? true : undefined;
    }, "the auth log erased, the account database not yet", 60_000);
    const signedIn = new Date(TEST_START.getTime() + 60_000);
    await authLog.query(
      `INSERT INTO auth_events (user_id, event_key, event_id, recorded_at, event, result, factor, device, ip, browser, os) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ada.userId, eventKey(signedIn, "evt_late"), "evt_late", signedIn.toISOString(), "login", "SUCCESS", "password", "iPhone 15", "203.0.113.9", "Safari 17.6", "iOS 18"],
    );

    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // The auth log itself: every event of Ada's still there is inside the 90-day rule, and declared kept.
    const left = await eventsOfAda();
    expect(left, "the late login is still there (the 90-day rule keeps it)").to.include(eventKey(signedIn, "evt_late"));
    const newest = new Date(Math.max(...left.map((k) => recordedAtOfKey(k)!.getTime())));
    const exceptions = done.retentionExceptions.filter((e: any) => e.connector === "auth-log" && e.status === "OPEN");
    expect(exceptions.map((e: any) => ({ recordType: e.recordType, recordCount: e.recordCount, retainUntil: new Date(e.retainUntil).getTime() }))).to.deep.equal([
      { recordType: "auth_event", recordCount: left.length, retainUntil: shiftByPeriod(newest, NINETY_DAYS).getTime() },
    ]);
    const line = done.deletionOutcome.find((o: any) => o.connector === "auth-log");
    expect(line.kept, "the outcome keeps what the auth log holds").to.equal(left.length);
    expect(line.erased + line.kept, "every event the plan found, and the late one, accounted for").to.equal(line.plannedFound + 1);
    expect(line.differences).to.deep.include({ kind: "MORE_RECORDS", records: 1 });
    const certificate = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    expect(certificate.kept.filter((k: any) => k.connector === "auth-log" && k.status === "OPEN").reduce((n: number, k: any) => n + k.records, 0), "the certificate keeps what the auth log holds").to.equal(left.length);
  });

  it("counts a reply the subject posted to a kept thread while the ticketing erasure ran, and dates the thread's exception by it", async function () {
    this.timeout(120_000);
    await start();
    const cutoff = shiftByPeriod(TEST_START, FIVE_YEARS, -1).getTime();
    const requested = ws.zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID);
    // (Threads another customer wrote on are not deleted: erasure redacts Ada's words there.)
    const erasable = requested.filter((x) => new Date(x.updated_at).getTime() < cutoff && !othersWroteOn(ws.zendesk, x, ADA_TICKETING_ID));
    const kept = requested.filter((x) => new Date(x.updated_at).getTime() >= cutoff);
    expect(erasable.length, "Ada has a thread outside the 5-year rule").to.be.at.least(1);
    expect(kept.length, "and one inside it").to.be.at.least(1);

    // The erasure deletes an old thread; while it does, the next look for Ada's user (the search by her
    // address after erase's own) is held too, so the reply lands after the connector went through the kept threads.
    const deleting = ws.zendesk.faults.pause({ method: "DELETE", path: `/api/v2/tickets/${erasable[erasable.length - 1].id}.json` });
    const id = await approvedDeletion();
    await within(deleting.reached, 30_000, "the erasure reached the old thread");
    const afterErase = ws.zendesk.faults.pause({ method: "GET", path: "/api/v2/users/search.json" });
    deleting.release();
    await within(afterErase.reached, 30_000, "the connector's erase ended");

    // Ada replies on her newest kept thread (by email, say): Zendesk adds the comment and the thread's last activity moves.
    const thread = kept[kept.length - 1];
    const repliedAt = new Date(TEST_START.getTime() - 3_600_000);
    thread.comments.push({ ...thread.comments[0], id: ws.zendesk.store.state.nextId++, author_id: ADA_TICKETING_ID, body: "One more thing", html_body: "<p>One more thing</p>", plain_body: "One more thing", attachments: [], created_at: repliedAt.toISOString() });
    thread.updated_at = repliedAt.toISOString();
    ws.zendesk.store.save();
    afterErase.release();

    const done = await finished(id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // What the ticketing system holds of Ada now, read from the system itself.
    // The account database that gave her ticketing id is erased by now: the id is the sample's.
    const ids: Identities = { email: ADA, ticketingUserId: String(ADA_TICKETING_ID) };
    const heldRecords = await collectAll(ws.connectors.find((c) => c.spec.name === "ticketing")!, ids);
    const heldByType = new Map<string, number>();
    for (const rec of heldRecords) heldByType.set(rec.type, (heldByType.get(rec.type) ?? 0) + 1);
    const newest = Math.max(...ws.zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID).concat(ws.zendesk.store.ticketsCcing(ADA_TICKETING_ID)).map((x) => new Date(x.updated_at).getTime()));
    expect(newest, "the reply is the newest activity Ada has").to.equal(repliedAt.getTime());

    const exceptions = done.retentionExceptions.filter((e: any) => e.connector === "ticketing" && e.status === "OPEN");
    const reported = new Map<string, number>(exceptions.map((e: any) => [e.recordType, e.recordCount]));
    // Beside what is kept, the system holds what the deletion named residual: on an old thread another
    // customer wrote on, the ticket and the staff's replies, left for that person (sharedTickets.test.ts).
    for (const r of done.residualRecords.filter((x: any) => x.connector === "ticketing")) heldByType.set(r.recordType, heldByType.get(r.recordType)! - r.records);
    expect(Object.fromEntries(reported), "the exceptions count what the ticketing system keeps").to.deep.equal(Object.fromEntries(heldByType));
    for (const e of exceptions) {
      expect(new Date(e.retainUntil).getTime(), `${e.recordType}: kept five years from the thread's last activity`).to.equal(shiftByPeriod(repliedAt, FIVE_YEARS).getTime());
    }
    const line = done.deletionOutcome.find((o: any) => o.connector === "ticketing");
    const keptRecords = heldRecords.length - line.residual;
    expect(line.kept, "the outcome keeps what the system holds").to.equal(keptRecords);
    expect(line.matchesPlan, "a reply that appeared after the plan is a difference").to.equal(false);
    expect(line.differences).to.deep.include({ kind: "MORE_RECORDS", records: 1 });
    const certificate = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    const certKept = certificate.kept.filter((k: any) => k.connector === "ticketing" && k.status === "OPEN");
    expect(certKept.reduce((n: number, k: any) => n + k.records, 0), "the certificate keeps what the system holds").to.equal(keptRecords);
  });
});
