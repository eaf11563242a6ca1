import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { collectAll, testContext } from "../src/connectors/testing/conformance";
import { createZendeskConnector } from "../src/connectors/zendesk";
import { samplePeople } from "../src/sample/people";
import { startZendeskStandIn, ZendeskStandIn } from "../src/sample/zendesk";
import { tempDir, TestDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { mariadbOrSkip, WorkerProcesses } from "./support/workerProcesses";

const ADA = "ada.lovelace@example.com";
const ADA_TICKETING_ID = 360000000;
const TOKEN = "zendesk-crash-test-token-0123456789";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status attempts outcome { erased kept remaining } }
  retentionExceptions { connector recordType recordCount } residualRecords { records } } }`;

/**
 * A `dsr worker` process is killed after a thread's soft delete and before its permanent delete (the
 * stand-in holds that call, so Zendesk never receives it); a new worker takes the task over. The
 * permanent delete must then happen exactly once per thread, and the request's report must match
 * what the ticketing system holds.
 */
describe("crash between the two steps of a remote delete [mariadb]", function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let t: TestService;
  let zendesk: ZendeskStandIn;
  let dir: string;
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db.url, CRASH_ZENDESK_TOKEN: TOKEN, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir }));

  before(async function () {
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-crash-zendesk-");
    zendesk = await startZendeskStandIn({ email: "bot@example.com", apiToken: TOKEN, people: samplePeople(12, { authEventsForAda: 10 }), stateFile: path.join(dir, "zendesk.json") });
    // The built-in connector's package exports createConnector, so a connectors file can name it as a module.
    // The stand-in's search does not lag here: no erasure waits for it (searchLagMs 0).
    const module = path.resolve(__dirname, "..", "src", "connectors", "zendesk", "index.js");
    const connectors = [{ type: "module", module, options: { baseUrl: zendesk.url, email: "bot@example.com", requestsPerMinute: 6000, timeoutMs: 5000, searchLagMs: 0 }, env: { apiToken: "CRASH_ZENDESK_TOKEN" } }];
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors }, null, 2));
    process.env.CRASH_ZENDESK_TOKEN = TOKEN;
    t = await new TestService(db, { DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0" }, null).start();
  });

  after(async () => {
    workers.killAll();
    await t?.stop();
    await zendesk?.close();
    await db?.drop();
    delete process.env.CRASH_ZENDESK_TOKEN;
  });

  const startWorker = () => workers.start(2);

  it("deletes each thread for good exactly once after a worker dies between the soft and the permanent delete, and reports what the system shows", async () => {
    const connector = createZendeskConnector({ baseUrl: zendesk.url, email: "bot@example.com", apiToken: TOKEN, requestsPerMinute: 6000, searchLagMs: 0 });
    const ids = { email: ADA, ticketingUserId: String(ADA_TICKETING_ID) };
    const before = (await collectAll(connector, ids, testContext())).length;
    const requested = zendesk.store.ticketsRequestedBy(ADA_TICKETING_ID).map((x) => x.id);

    const held = zendesk.faults.pause({ method: "DELETE", path: /^\/api\/v2\/deleted_tickets\/\d+\.json$/ });
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "crash test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const first = startWorker();
    await held.reached;
    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));
    // Zendesk's side now: one thread soft-deleted, none deleted for good (the call never got through).
    expect(zendesk.store.deletedTickets().map((x) => x.id)).to.have.length(1);
    expect(zendesk.store.effects.ticketPermanentDeletes).to.equal(0);

    startWorker();
    const done = await t.waitFor(async () => {
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished after the takeover", 90_000);
    for (const w of workers.running) w.kill("SIGTERM");
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // Exactly once, and nothing left half deleted.
    const gone = requested.filter((id) => !zendesk.store.state.tickets.some((x) => x.id === id));
    expect(zendesk.store.deletedTickets(), "nothing left in deleted tickets").to.deep.equal([]);
    expect(zendesk.store.effects.ticketSoftDeletes).to.equal(gone.length);
    expect(zendesk.store.effects.ticketPermanentDeletes).to.equal(gone.length);
    expect(gone.length).to.be.greaterThan(0);
    // The report is what left the system, and what stays is what the exceptions say.
    const after = (await collectAll(connector, ids, testContext())).length;
    await connector.close();
    const erase = done.tasks.find((x: any) => x.step === "ERASE");
    expect(erase.attempts, "the task was taken over").to.be.at.least(2);
    expect(erase.outcome.erased).to.equal(before - after);
    expect(erase.outcome.remaining).to.equal(after);
    // What stays: kept under the rule, or (threads another customer wrote on) named residual.
    const residual = done.residualRecords.reduce((n: number, e: any) => n + e.records, 0);
    expect(done.retentionExceptions.reduce((n: number, e: any) => n + e.recordCount, 0) + residual).to.equal(after);
  });
});
