import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ListingConnector } from "../support/scriptedConnector";
import { drawRoster } from "./support";

/**
 * A roster attempt that fails in a way no later attempt can get past (export storage that cannot take
 * the file: here its `rosters` folder is a file, as a permission error would be for a non-root
 * process) fails the roster at once, saying why. It used to be tried 3 times, some backoff apart, and
 * end with "the listing failed (see the service log)": the listing had not failed, and the breach's
 * 72 hours ran meanwhile.
 */
describeEachDatabase("breach roster runner: a failure no retry can get past", (db) => {
  let t: TestService;
  let crm: ListingConnector;

  beforeEach(async () => {
    crm = new ListingConnector({ name: "crm", categories: ["ACCOUNT"] }).seed("ada@example.com", 3);
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "20", DSR_TASK_LEASE_MS: "1000", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100" }, [crm]).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  it("fails at the first attempt, naming the cause and that it is not retried, when export storage cannot take the file", async function () {
    this.timeout(30_000);
    const exports = path.join(t.service.services.config.dataDir, "exports");
    fs.mkdirSync(exports, { recursive: true });
    fs.writeFileSync(path.join(exports, "rosters"), "not a folder");
    const roster = await drawRoster(t, ["crm"], 20_000);
    // Before: attempts 3, lastError "the listing failed (see the service log); not retried: all 3 attempts failed, start a new roster", the crm listed 3 times.
    expect([roster.status, roster.attempts, roster.fileAvailable]).to.deep.equal(["FAILED", 1, false]);
    expect(roster.lastError).to.equal("the roster's files could not be written (ENOTDIR: export storage or the temporary folder is not writable); not retried: it would fail the same way. Fix it and start a new roster");
    expect(crm.callsOf("list").length).to.equal(1);
    const [failed] = await t.ds.query("SELECT details FROM audit_events WHERE action = 'roster.failed'");
    expect(JSON.parse(failed.details).reason).to.equal(roster.lastError);
  });

  it("still draws again after a failure that can pass (a retryable listing), as before", async function () {
    this.timeout(30_000);
    crm.script("list", { kind: "retryable" });
    const roster = await drawRoster(t, ["crm"], 20_000);
    expect([roster.status, roster.attempts, roster.people]).to.deep.equal(["COMPLETED", 2, 1]);
  });
});
