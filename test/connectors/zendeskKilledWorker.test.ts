import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ZendeskStandIn } from "../../src/sample/zendesk";
import { describeEachDatabase, tempDir } from "../support/databases";
import { approved, TestService } from "../support/harness";
import { WorkerProcesses } from "../support/workerProcesses";
import { deletionEnded, firstAttemptFailed } from "./support/dynamoSuite";
import { EMAIL, GRACE_PERSON, sharedResidue, startStandIn, TOKEN } from "./support/zendeskStandIn";

const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status attempts lastError outcome { erased } }
  deletionOutcome { connector plannedFound erased kept residual differences { kind records } } } }`;
/** Nothing of SUPPORT is kept on deletion: what the erasure reaches, it erases. */
const RULES = JSON.stringify([{ category: "SUPPORT", period: "730 days", legalBasis: "dispute resolution", basisKind: "LEGITIMATE_INTEREST", keepsOnDeletion: false }]);
/** Real clocks in the workers; graces long enough that no sweep of undecided requests meets the test's clock. */
const WORKER_ENV = { DSR_TASK_LEASE_MS: "1500", DSR_RETENTION_RULES: RULES, DSR_UNDECIDED_GRACE_DAYS: "3650", DSR_MANUAL_TASK_GRACE_DAYS: "3650", ZDKILL_TOKEN: TOKEN };
/** The verification pass after an erase call looks for the subject's user again: the first call it makes that the erase call (past its start) does not. */
const USER_SEARCH = { method: "GET", path: /^\/api\/v2\/users\/search\.json/ };

/**
 * Grace's deletion in real `dsr worker` processes, one of which is SIGKILLed in the verification pass,
 * after its erase call returned (the unit that deleted her user for good, or settled the note of an earlier
 * attempt's delete, had ended, and with it the note that named what stays of her on threads other people
 * wrote on) and before the task completed. The worker that completes the task no longer finds her user, nor
 * her threads through it: what stays there must still be named residual, as the stand-in holds it.
 */
describeEachDatabase("a Zendesk erasure whose worker dies after her user went, before the task completed", (db) => {
  let z: ZendeskStandIn;
  let t: TestService | undefined;
  let dir: string;
  let workers: WorkerProcesses;
  let ticking: NodeJS.Timeout | undefined;

  beforeEach(async function () {
    this.timeout(60_000);
    z = await startStandIn();
    dir = tempDir("dsr-zdkill-");
    const module = path.resolve(__dirname, "..", "..", "src", "connectors", "zendesk", "index.js");
    const connectors = [{ type: "module", module, options: { baseUrl: z.url, email: EMAIL, requestsPerMinute: 60_000, timeoutMs: 1_000, searchLagMs: 0 }, env: { apiToken: "ZDKILL_TOKEN" } }];
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors }));
    process.env.ZDKILL_TOKEN = TOKEN;
    workers = new WorkerProcesses(() => ({ DATABASE_URL: db().url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir }));
    t = await new TestService(db(), { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0", DSR_RETENTION_RULES: RULES }, null).start();
    // On the workers' clock (the real one): a hold placement reads their units' ends on it.
    const clock = t.clock;
    clock.set(new Date());
    ticking = setInterval(() => clock.set(new Date()), 20);
  });
  afterEach(async () => {
    clearInterval(ticking);
    workers.killAll();
    z.faults.clear();
    await t?.stop();
    await z?.close();
    delete process.env.ZDKILL_TOKEN;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Kills `worker` once its verification pass asks for her user (held), and lets the held call go. */
  const killInVerification = async (start: () => ReturnType<WorkerProcesses["start"]>, armed: Promise<void> = Promise.resolve()) => {
    const worker = start();
    await armed;
    const held = z.faults.pause(USER_SEARCH);
    await held.reached;
    worker.kill("SIGKILL");
    await new Promise((resolve) => worker.once("exit", resolve));
    held.release();
  };

  /** What the stand-in holds of her on threads she requested that other customers wrote on, once her user is gone. */
  const checkResidual = async (line: any, shared: number, seen: string) => {
    // The notes the completed task no longer needs went with its completion.
    expect(Number((await t!.ds.query(`SELECT COUNT(*) AS n FROM erasure_units`))[0].n), `units left ${seen}`).to.equal(0);
    expect(z.store.user(GRACE_ID), `her user is gone ${seen}`).to.equal(undefined);
    expect(z.store.effects.userPermanentDeletes, seen).to.equal(1);
    expect(line.residual, `named residual, against what the shared threads hold of her ${seen}`).to.equal(shared);
    expect(line.erased + line.kept + line.residual, seen).to.equal(line.plannedFound);
  };

  it("names what stays on shared threads residual when the worker died after the unit that deleted her user for good", async function () {
    this.timeout(120_000);
    const shared = Object.values(sharedResidue(z, GRACE_ID)).reduce((n, c) => n + c, 0);
    expect(shared, "threads she requested that others wrote on").to.be.greaterThan(0);
    const id = await approved(t!, { type: "DELETION", subject: { email: GRACE_PERSON.email } });
    // Her permanent delete held until the verification pass's search is armed, so that it holds the first search after it.
    const permanent = z.faults.pause({ method: "DELETE", path: /^\/api\/v2\/deleted_users\/\d+\.json$/ });
    await killInVerification(
      () => workers.start(2, WORKER_ENV),
      permanent.reached.then(() => void setImmediate(permanent.release)),
    );
    expect(z.store.effects.userPermanentDeletes, "her user went before the kill").to.equal(1);
    workers.start(2, WORKER_ENV);
    const { ended, erase } = await deletionEnded(t!, SHOW, id, 90_000);
    const line = ended.deletionOutcome.find((l: any) => l.connector === "ticketing");
    const seen = `${JSON.stringify(erase)} ${JSON.stringify(line)} ${ended.statusReason}`;
    console.log(`      ${db().kind} shared ${shared}: ${seen}`);
    expect(ended.status, seen).to.equal("COMPLETED");
    expect(erase.attempts, `the task was taken over ${seen}`).to.be.at.least(2);
    await checkResidual(line, shared, seen);
  });

  it("names what stays on shared threads residual when the worker died after settling, under a hold, the note of a permanent delete whose answer was lost", async function () {
    this.timeout(120_000);
    const shared = Object.values(sharedResidue(z, GRACE_ID)).reduce((n, c) => n + c, 0);
    expect(shared).to.be.greaterThan(0);
    z.faults.add({ kind: "500", method: "DELETE", path: /^\/api\/v2\/deleted_users\/\d+\.json$/, times: 1, afterEffect: true });
    const id = await approved(t!, { type: "DELETION", subject: { email: GRACE_PERSON.email } });
    // Its retry 4 s after the failure: time to stop the worker and place the hold first.
    const first = workers.start(2, { ...WORKER_ENV, DSR_RETRY_BASE_MS: "4000", DSR_RETRY_MAX_MS: "4000" });
    await firstAttemptFailed(t!, SHOW, id, "ERASE", 60_000);
    first.kill("SIGKILL");
    await new Promise((resolve) => first.once("exit", resolve));
    await t!.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE_PERSON.email}", categories: ["SUPPORT"], reason: "Dispute", caseReference: "CASE-ZD-KILL" }) { id } }`);
    const writes = z.calls.count("PUT") + z.calls.count("DELETE");
    await killInVerification(() => workers.start(2, WORKER_ENV));
    workers.start(2, WORKER_ENV);
    const { ended, erase } = await deletionEnded(t!, SHOW, id, 90_000);
    const line = ended.deletionOutcome.find((l: any) => l.connector === "ticketing");
    const seen = `${JSON.stringify(erase)} ${JSON.stringify(line)} ${ended.statusReason}`;
    console.log(`      ${db().kind} shared ${shared}: ${seen}`);
    expect(ended.status, seen).to.equal("COMPLETED");
    expect(erase.attempts, `failed, killed, completed ${seen}`).to.equal(3);
    expect(z.calls.count("PUT") + z.calls.count("DELETE"), `writes after the hold ${seen}`).to.equal(writes);
    await checkResidual(line, shared, seen);
  });
});
