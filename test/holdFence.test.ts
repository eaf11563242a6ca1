import { expect } from "chai";
import pino from "pino";
import { collectAll, testContext } from "../src/connectors/testing/conformance";
import { Identities } from "../src/connectors/sdk";
import { shiftByPeriod } from "../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../src/sample/workspace";
import { describeEachDatabase, tempDir, TestDatabase } from "./support/databases";
import { submit, TEST_START, TestService } from "./support/harness";
import { mariadbOrSkip } from "./support/workerProcesses";
import { isStaff } from "./connectors/support/zendeskStandIn";

const ADA = "ada.lovelace@example.com";
const ADA_TICKETING_ID = 360000000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status outcome { erased kept remaining } }
  retentionExceptions { connector category recordType recordCount legalBasis holdId retainUntil status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records } kept { connector category records holdId retainUntil } } }`;
const HOLD = `mutation($categories: [String!]) { placeLegalHold(input: { subjectEmail: "${ADA}", categories: $categories, reason: "Dispute", caseReference: "CASE-7" }) { id } }`;
const ENV = { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };

/** The threads Ada requested that the 5-year rule lets erasure delete, in the order the connector meets them. */
function erasableThreads(ws: SampleWorkspace) {
  const cutoff = shiftByPeriod(TEST_START, { years: 5, days: 0 }, -1).getTime();
  return ws.zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID).filter((t) => new Date(t.updated_at).getTime() < cutoff);
}

/**
 * Takes other customers' comments off Ada's threads, so that erasure deletes each of her old threads
 * whole: these tests are about holds and units; a thread another customer wrote on, which erasure does
 * not delete, is sharedTickets.test.ts's.
 */
function onlyAdaOnHerThreads(ws: SampleWorkspace): void {
  for (const t of ws.zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID)) t.comments = t.comments.filter((c) => c.author_id === ADA_TICKETING_ID || isStaff(ws.zendesk, c.author_id));
  ws.zendesk.store.save();
}

/** Ada's records in the ticketing system, read through the connector (what an access request would find). */
/** Ada's identities as the account database gave them before her deletion erased its row (her Zendesk user is hers only with her user id). */
const adaIds = new WeakMap<SampleWorkspace, Identities>();
async function ticketingRecords(ws: SampleWorkspace): Promise<number> {
  if (!adaIds.has(ws)) adaIds.set(ws, { email: ADA, ...(await ws.connectors[0].resolve!({ email: ADA }, testContext())) });
  return (await collectAll(ws.connectors.find((c) => c.spec.name === "ticketing")!, adaIds.get(ws)!)).length;
}

async function approveDeletion(t: TestService): Promise<string> {
  const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  return r.id;
}

async function finished(t: TestService, id: string): Promise<any> {
  return t.waitFor(async () => {
    // The clock ticks so that polls of remote work (Stripe's redaction jobs) come due.
    t.clock.advance(2);
    const r = (await t.ok(SHOW, { id })).request;
    return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
  }, "deletion finished", 60_000);
}

const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))]);

/**
 * A hold placed while the ticketing erasure is mid-way: the thread being deleted at that moment (its
 * remote call held by the stand-in) finishes, nothing after it is touched, and the request, its
 * exceptions and its certificate say so, checked against the stand-in's own store.
 */
async function holdMidErasure(primary: TestService, ws: SampleWorkspace, placer: TestService) {
  const threads = erasableThreads(ws);
  expect(threads.length, "Ada has at least 2 threads outside the 5-year rule").to.be.at.least(2);
  const before = await ticketingRecords(ws);
  const ccd = ws.zendesk.store.ticketsCcing(ADA_TICKETING_ID).map((x) => x.id);
  const pause = ws.zendesk.faults.pause({ method: "DELETE", path: `/api/v2/tickets/${threads[0].id}.json` });
  const id = await approveDeletion(primary);
  await within(pause.reached, 30_000, "the erasure reached the first thread");

  let settled = false;
  const placing = placer.gql(HOLD, { categories: ["SUPPORT"] }).finally(() => (settled = true));
  await new Promise((r) => setTimeout(r, 400));
  expect(settled, "the hold waits for the deletion under way").to.equal(false);
  pause.release();
  const placed = await placing;
  expect(placed.errors, JSON.stringify(placed.errors)).to.equal(undefined);
  const holdId = placed.data.placeLegalHold.id;

  const done = await finished(primary, id);
  expect(done.status, done.statusReason).to.equal("COMPLETED");
  // The store itself: the thread under way when the hold came is gone for good; the rest are there.
  const state = ws.zendesk.store.state;
  for (const gone of threads.slice(0, 1)) expect(state.tickets.find((x) => x.id === gone.id), `thread ${gone.id} erased before the hold`).to.equal(undefined);
  for (const kept of threads.slice(1)) expect(state.tickets.find((x) => x.id === kept.id && !x.deleted_at), `thread ${kept.id} kept by the hold`).to.not.equal(undefined);
  for (const cc of ccd) expect(state.tickets.find((x) => x.id === cc)!.collaborator_ids, "CC'd threads untouched").to.include(ADA_TICKETING_ID);
  expect(ws.zendesk.store.user(ADA_TICKETING_ID)?.active, "the user stays with the held threads").to.equal(true);
  expect(ws.zendesk.store.deletedTickets(), "nothing left half deleted").to.deep.equal([]);

  // The report: erased = what left the system; kept by the hold = what is still there.
  const after = await ticketingRecords(ws);
  const erase = done.tasks.find((x: any) => x.connector === "ticketing" && x.step === "ERASE");
  expect(erase.outcome.erased).to.equal(before - after);
  const held = done.retentionExceptions.filter((e: any) => e.connector === "ticketing");
  expect(held).to.have.length(1);
  expect(held[0]).to.include({ holdId, category: "SUPPORT", recordCount: after, retainUntil: null, status: "OPEN", legalBasis: "legal hold CASE-7" });
  const certificate = (await primary.ok(CERTIFICATE, { id })).deletionCertificate;
  expect(certificate.kept.filter((k: any) => k.connector === "ticketing")).to.deep.equal([{ connector: "ticketing", category: "SUPPORT", records: after, holdId, retainUntil: null }]);
  expect(certificate.erased.find((e: any) => e.connector === "ticketing").records).to.equal(before - after);
}

describeEachDatabase("legal holds fence running erasures", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });
  const start = async (env: Record<string, string> = {}) => {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 200, people: 12, redactionPollMs: 1 });
    onlyAdaOnHerThreads(ws);
    t = await new TestService(db(), { ...ENV, ...env }, ws.connectors).start();
  };

  it("keeps what was not yet erased when a hold arrives mid-erasure, after the step under way ends, and reports it as kept", async function () {
    this.timeout(120_000);
    await start();
    await holdMidErasure(t, ws, t);
  });

  it("counts as erased what an attempt killed part-way erased, and finishes the thread it was deleting exactly once", async function () {
    this.timeout(120_000);
    await start();
    const threads = erasableThreads(ws);
    const before = await ticketingRecords(ws);
    // The first thread is deleted (its unit ends and is counted); the attempt dies while Zendesk holds the second.
    const pause = ws.zendesk.faults.pause({ method: "DELETE", path: `/api/v2/tickets/${threads[1].id}.json` });
    const id = await approveDeletion(t);
    await within(pause.reached, 30_000, "the erasure reached the second thread");
    await t.crash();
    pause.release();
    const done = await finished(t, id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const after = await ticketingRecords(ws);
    const erase = done.tasks.find((x: any) => x.connector === "ticketing" && x.step === "ERASE");
    expect(erase.outcome.erased, "erased = what left the system, the killed attempt's share included").to.equal(before - after);
    const outcome = (await t.ok(`query($id: ID!) { request(id: $id) { deletionOutcome { connector differences { kind records } } } }`, { id })).request.deletionOutcome;
    expect(outcome.filter((o: any) => o.connector === "ticketing").flatMap((o: any) => o.differences)).to.deep.equal([]);
    expect((await t.ok(CERTIFICATE, { id })).deletionCertificate.erased.find((e: any) => e.connector === "ticketing").records).to.equal(before - after);
    for (const thread of threads) expect(ws.zendesk.store.state.tickets.find((x) => x.id === thread.id), `thread ${thread.id}`).to.equal(undefined);
    expect(ws.zendesk.store.deletedTickets(), "nothing left half deleted").to.deep.equal([]);
    expect(await t.count("erasure_progress"), "progress rows go with the completion").to.equal(0);
  });

  it("refuses the hold with CONFLICT, naming the step under way, when that step outlasts DSR_HOLD_WAIT_MS, and changes nothing", async function () {
    this.timeout(120_000);
    await start({ DSR_HOLD_WAIT_MS: "300" });
    const threads = erasableThreads(ws);
    const pause = ws.zendesk.faults.pause({ method: "DELETE", path: `/api/v2/tickets/${threads[0].id}.json` });
    const id = await approveDeletion(t);
    await within(pause.reached, 30_000, "the erasure reached the first thread");
    const refused = await t.gql(HOLD, { categories: ["SUPPORT"] });
    expect(refused.errors?.[0].extensions.code).to.equal("CONFLICT");
    expect(refused.errors?.[0].message).to.match(/SUPPORT through connector ticketing for deletion request/).and.include(id).and.match(/was not placed/);
    expect(await t.count("legal_holds")).to.equal(0);
    // A hold on another category does not wait for it (the wait would have outlasted DSR_HOLD_WAIT_MS).
    const other = await t.gql(HOLD, { categories: ["AUTH_LOGS"] });
    expect(other.errors).to.equal(undefined);
    pause.release();
    const done = await finished(t, id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    for (const thread of threads) expect(ws.zendesk.store.state.tickets.find((x) => x.id === thread.id), `thread ${thread.id}`).to.equal(undefined);
    expect(done.retentionExceptions.filter((e: any) => e.connector === "ticketing" && e.holdId)).to.deep.equal([]);
  });

  /**
   * A hold placed while a purge (its kept threads' 5 years over) deletes them: the thread under way ends,
   * no other is touched, and the exceptions say the hold keeps exactly what Zendesk still holds.
   */
  it("keeps what a purge had not yet erased when a hold arrives mid-purge, and its exceptions count what the system holds", async function () {
    this.timeout(120_000);
    await start();
    const cutoff = shiftByPeriod(TEST_START, { years: 5, days: 0 }, -1).getTime();
    const kept = ws.zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID).filter((x) => new Date(x.updated_at).getTime() >= cutoff);
    expect(kept.length, "the deletion keeps at least 2 of Ada's threads").to.be.at.least(2);
    await ticketingRecords(ws); // reads her identities while the account database still holds her
    const id = await approveDeletion(t);
    const done = await finished(t, id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const keptSet = done.retentionExceptions.filter((e: any) => e.connector === "ticketing" && e.status === "OPEN");
    const before = await ticketingRecords(ws);
    expect(keptSet.reduce((n: number, e: any) => n + e.recordCount, 0), "the deletion's exceptions count what Zendesk holds").to.equal(before);

    const pause = ws.zendesk.faults.pause({ method: "DELETE", path: "/api/v2/tickets/" });
    t.clock.advance(Math.max(...keptSet.map((e: any) => new Date(e.retainUntil).getTime())) - t.clock.now().getTime() + 60_000);
    await within(pause.reached, 30_000, "the purge reached its first thread");
    let settled = false;
    const placing = t.gql(HOLD, { categories: ["SUPPORT"] }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 400));
    expect(settled, "the hold waits for the purge's thread under way").to.equal(false);
    pause.release();
    const placed = await placing;
    expect(placed.errors, JSON.stringify(placed.errors)).to.equal(undefined);
    const holdId = placed.data.placeLegalHold.id;
    const after = await t.waitFor(async () => {
      t.clock.advance(2);
      const r = (await t.ok(SHOW, { id })).request;
      return ["SUCCEEDED", "FAILED"].includes(r.tasks.find((x: any) => x.connector === "ticketing" && x.step === "PURGE")?.status) ? r : undefined;
    }, "the ticketing purge ended", 60_000);
    const purge = after.tasks.find((x: any) => x.connector === "ticketing" && x.step === "PURGE");
    expect(purge.status).to.equal("SUCCEEDED");
    // The store itself: one thread went (the one under way), every other kept thread is there.
    const state = ws.zendesk.store.state;
    const left = kept.filter((k) => state.tickets.some((x) => x.id === k.id && !x.deleted_at));
    expect(left.length, "only the thread under way when the hold came was deleted").to.equal(kept.length - 1);
    expect(ws.zendesk.store.user(ADA_TICKETING_ID)?.active, "the user stays with the held threads").to.equal(true);
    const holds = await ticketingRecords(ws);
    expect(purge.outcome.erased, "erased = what left the system").to.equal(before - holds);
    const open = after.retentionExceptions.filter((e: any) => e.connector === "ticketing" && e.status === "OPEN");
    expect(open.map((e: any) => [e.holdId, e.retainUntil]), JSON.stringify(after.retentionExceptions)).to.deep.equal(open.map(() => [holdId, null]));
    expect(open.reduce((n: number, e: any) => n + e.recordCount, 0), "the hold keeps what Zendesk holds").to.equal(holds);
  });
});

describe("legal holds fence running erasures across two service instances [mariadb]", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let ws: SampleWorkspace;
  const services: TestService[] = [];
  before(async function () {
    db = await mariadbOrSkip(this);
  });
  after(async () => {
    for (const s of services) await s.stop();
    await ws?.close();
    await db?.drop();
  });

  it("places the hold through one instance while the other's worker erases, and the hold still fences the erasure", async () => {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 200, people: 12, redactionPollMs: 1 });
    onlyAdaOnHerThreads(ws);
    const worker = await new TestService(db, ENV, ws.connectors).start();
    services.push(worker);
    // The second instance runs no worker; its start empties the shared tables, so its tokens serve both.
    const front = await new TestService(db, { DSR_WORKER_CONCURRENCY: "0" }, ws.connectors).start();
    services.push(front);
    Object.assign(worker.tokens, front.tokens);
    await holdMidErasure(worker, ws, front);
  });
});
