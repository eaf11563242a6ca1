import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { dsr } from "../support/cliBinary";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { ListingConnector, ScriptedConnector } from "../support/scriptedConnector";
import { downloadRoster, drawRoster, SHOW, START } from "./support";

/** The roster actions of the installation's audit stream, in order. */
async function rosterActions(t: TestService): Promise<string[]> {
  const rows: Array<{ action: string }> = await t.ds.query("SELECT action FROM audit_events WHERE requestId IS NULL AND action LIKE 'roster.%' ORDER BY seq");
  return rows.map((r) => r.action);
}

const filesOf = (t: TestService, id: string): string[] => {
  const dir = path.join(t.service.services.config.dataDir, "exports", "rosters", id);
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
};

describeEachDatabase("breach roster runner: truth about what was listed, retries and crashes", (db) => {
  let t: TestService;
  let crm: ListingConnector;
  let ledger: ScriptedConnector;
  let newsletter: ListingConnector;

  beforeEach(async () => {
    crm = new ListingConnector({ name: "crm", categories: ["ACCOUNT"] }).seed("ada@example.com", 3).seed("grace@example.com", 2);
    crm.data.set("zoe@example.com", crm.data.get("grace@example.com")!.slice(0, 1));
    ledger = new ScriptedConnector({ name: "ledger", categories: ["PAYMENTS"] }).seed("ada@example.com", 1);
    newsletter = new ListingConnector({ name: "newsletter", categories: ["ACCOUNT"] }).seed("ada@example.com", 1);
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "20", DSR_TASK_LEASE_MS: "1000", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "100" }, [crm, ledger, newsletter]).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  it("names a system that cannot list NOT_LISTABLE and one whose listing failed for good FAILED: the roster is not complete", async () => {
    newsletter.script("list", { kind: "fatal" });
    const roster = await drawRoster(t, ["crm", "ledger", "newsletter"]);
    expect(roster.status).to.equal("COMPLETED");
    expect(roster.complete).to.equal(false);
    expect(roster.systems).to.deep.equal([
      { connector: "crm", role: "BREACHED", outcome: "LISTED", people: 3, records: 6, problem: null },
      { connector: "ledger", role: "BREACHED", outcome: "NOT_LISTABLE", people: null, records: null, problem: "this connector cannot list the people it holds (it has no listSubjects): list them from the system itself" },
      { connector: "newsletter", role: "BREACHED", outcome: "FAILED", people: null, records: null, problem: "The system refused the request" },
    ]);
    const { lines } = await downloadRoster(t, roster.id);
    expect(lines.map((l) => [l.emails, l.systems, l.records])).to.have.deep.members([
      ["ada@example.com", "crm", "3"],
      ["grace@example.com", "crm", "2"],
      ["zoe@example.com", "crm", "1"],
    ]);
    expect(await rosterActions(t)).to.deep.equal(["roster.requested", "roster.completed", "roster.link_created", "roster.downloaded"]);
    const [completed] = await t.ds.query("SELECT details FROM audit_events WHERE action = 'roster.completed'");
    expect(JSON.parse(completed.details)).to.deep.include({ complete: false, notListed: ["ledger", "newsletter"], people: 3 });
  });

  it("names a system whose listing could not reach some people PARTIAL, with whom, and counts those it listed: the roster is not complete", async () => {
    newsletter.unreached = "the senders of held-back emails past the first 1000 of the queue";
    const roster = await drawRoster(t, ["crm", "newsletter"]);
    expect(roster.status).to.equal("COMPLETED");
    // Before: newsletter LISTED, problem null, and the roster complete.
    expect(roster.complete).to.equal(false);
    expect(roster.systems.find((s: any) => s.connector === "newsletter")).to.deep.equal({
      connector: "newsletter",
      role: "BREACHED",
      outcome: "PARTIAL",
      people: 1,
      records: 1,
      problem: "not listed: the senders of held-back emails past the first 1000 of the queue",
    });
    const [completed] = await t.ds.query("SELECT details FROM audit_events WHERE action = 'roster.completed'");
    expect(JSON.parse(completed.details)).to.deep.include({ complete: false, notListed: ["newsletter"] });
  });

  it("draws again after a retryable failure, showing the reason meanwhile", async () => {
    crm.script("list", { kind: "retryable", retryAfterMs: 1500 });
    const { startBreachRoster } = await t.ok(START, { input: { connectors: ["crm"], reason: "breach at the CRM" } });
    const waiting = await t.waitFor(async () => {
      const { breachRoster } = await t.ok(SHOW, { id: startBreachRoster.id });
      return breachRoster.lastError ? breachRoster : undefined;
    }, "the failed attempt");
    expect([waiting.status, waiting.attempts, waiting.lastError, waiting.fileAvailable]).to.deep.equal(["QUEUED", 1, "The system is busy; will retry", false]);
    const done = await t.waitFor(async () => {
      const { breachRoster } = await t.ok(SHOW, { id: startBreachRoster.id });
      return breachRoster.status === "COMPLETED" ? breachRoster : undefined;
    }, "the second attempt", 20_000);
    expect([done.attempts, done.people, done.complete, done.lastError]).to.deep.equal([2, 3, true, null]);
    expect(crm.callsOf("list").length).to.equal(2);
    expect(filesOf(t, done.id)).to.deep.equal(["2.csv.dsrx"]);
  });

  it("fails after 3 attempts, says why (no longer promising a retry), and leaves no file", async () => {
    crm.script("list", { kind: "retryable" }, { kind: "retryable" }, { kind: "retryable" });
    const roster = await drawRoster(t, ["crm"], 30_000);
    expect([roster.status, roster.attempts, roster.lastError, roster.fileAvailable, roster.people]).to.deep.equal(["FAILED", 3, "The system is busy; not retried: all 3 attempts failed, start a new roster", false, null]);
    expect(filesOf(t, roster.id)).to.deep.equal([]);
    expect(await rosterActions(t)).to.deep.equal(["roster.requested", "roster.failed"]);
    expect((await t.gql(`mutation { createBreachRosterLink(id: "${roster.id}") { url } }`)).errors?.[0].extensions?.code).to.equal("CONFLICT");
  });

  it("an attempt whose claim was taken over while it stalled records nothing and removes its file", async () => {
    let open!: () => void;
    crm.gate = new Promise<void>((resolve) => (open = resolve));
    const { startBreachRoster } = await t.ok(START, { input: { connectors: ["crm"], reason: "breach at the CRM" } });
    const id = startBreachRoster.id;
    await t.waitFor(async () => (crm.callsOf("list").length === 1 ? true : undefined), "the listing to start");
    // Another process's claim, as it takes over a roster whose lease ran out: the next attempt, its worker.
    await t.ds.query(`UPDATE breach_rosters SET attempts = 2, claimedBy = 'other-host:1:takeover' WHERE id = ?`, [id]);
    open();
    await t.waitFor(async () => (crm.finished === 1 ? true : undefined), "the stale attempt's listing to end");
    // Then it writes its file and tries to record the roster (a few ms): given ample time, it must have given up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [row] = await t.ds.query("SELECT status, attempts, claimedBy, people, objectKey FROM breach_rosters WHERE id = ?", [id]);
    expect({ ...row, attempts: Number(row.attempts) }).to.deep.equal({ status: "RUNNING", attempts: 2, claimedBy: "other-host:1:takeover", people: null, objectKey: null });
    expect(filesOf(t, id)).to.deep.equal([]);
    expect(await rosterActions(t)).to.deep.equal(["roster.requested"]);
  });

  it("a process killed while it lists: the next one draws the roster, once, and only its file remains", async () => {
    crm.script("list", { kind: "hang" });
    const { startBreachRoster } = await t.ok(START, { input: { connectors: ["crm"], reason: "breach at the CRM" } });
    await t.waitFor(async () => (crm.callsOf("list").length === 1 ? true : undefined), "the listing to start");
    const { breachRoster: running } = await t.ok(SHOW, { id: startBreachRoster.id });
    expect([running.status, running.attempts]).to.deep.equal(["RUNNING", 1]);
    // As if the first attempt had written its file and died before recording the roster: a list of
    // people nobody will record. The next attempt removes it.
    const dir = path.join(t.service.services.config.dataDir, "exports", "rosters", startBreachRoster.id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "1.csv.dsrx"), "left by attempt 1");
    await t.crash();
    const done = await t.waitFor(async () => {
      const { breachRoster } = await t.ok(SHOW, { id: startBreachRoster.id });
      return breachRoster.status === "COMPLETED" ? breachRoster : undefined;
    }, "the roster drawn by the next process", 20_000);
    expect([done.attempts, done.people, done.complete]).to.deep.equal([2, 3, true]);
    expect(filesOf(t, done.id)).to.deep.equal(["2.csv.dsrx"]);
    expect(await rosterActions(t)).to.deep.equal(["roster.requested", "roster.completed"]);
    expect((await downloadRoster(t, done.id)).lines.length).to.equal(3);
  });
});

describeEachDatabase("dsr roster (the binary against a running service)", (db) => {
  let t: TestService;
  let crm: ListingConnector;

  beforeEach(async () => {
    crm = new ListingConnector({ name: "crm", categories: ["ACCOUNT"] }).seed("ada@example.com", 3).seed("grace@example.com", 2);
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "20" }, [crm, new ScriptedConnector({ name: "ledger" })]).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  it("draws a roster, prints its counts, saves its CSV readable only by its owner, and exits 1 when it is incomplete", async () => {
    const remote = { DSR_URL: t.url, DSR_TOKEN: t.tokens.PRIVACY_OFFICER };
    const dir = tempDir();
    const out = path.join(dir, "roster.csv");
    const drawn = await dsr(["roster", "draw", "--connector", "crm", "--reason", "breach at the CRM", "--case", "INC-7", "--out", out], remote);
    expect(drawn.code, drawn.stderr).to.equal(0);
    expect(drawn.stdout).to.match(/COMPLETED {2}2 people \(0 without an email\) {2}complete/);
    expect(fs.statSync(out).mode & 0o777).to.equal(0o600);
    const saved = parse(fs.readFileSync(out, "utf8"), { columns: true, bom: true }) as Array<{ emails: string; records: string }>;
    expect(saved.map((l) => [l.emails, l.records])).to.have.deep.members([["ada@example.com", "3"], ["grace@example.com", "2"]]);
    const incomplete = await dsr(["roster", "draw", "--connector", "crm", "--connector", "ledger", "--reason", "breach at both"], remote);
    expect(incomplete.code).to.equal(1);
    expect(incomplete.stdout).to.include("INCOMPLETE").and.to.include("NOT_LISTABLE");
    const unknown = await dsr(["roster", "draw", "--connector", "nope-system", "--reason", "breach"], remote);
    expect([unknown.code, unknown.stderr.includes("connectors[0] is not a connector of this installation"), unknown.stderr.includes("nope-system")]).to.deep.equal([2, true, false]);
    expect(await t.count("breach_rosters")).to.equal(2);
  });
});
