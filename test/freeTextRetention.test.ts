import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { sealCheckpoint } from "../src/audit/checkpointer";
import { Role } from "../src/domain/enums";
import { purgeExpiredExports } from "../src/export/purge";
import { createLogger } from "../src/logger";
import { dsr } from "./support/cliBinary";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { columnsHolding, needlesIn } from "./support/residue";
import { ScriptedConnector } from "./support/scriptedConnector";

const DAY = 86_400_000;
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000", DSR_TASK_MAX_ATTEMPTS: "1", DSR_AUDIT_CHECKPOINT_SECONDS: "1" };
const EMAIL = "Philippa.Oxenbridge@Example.com";

/**
 * What staff type about a person's requests, as they do: how they checked who asked, why they refused,
 * cancelled or took longer, why a hold was placed and released. Each carries a distinctive piece of
 * personal data the test then searches for.
 */
const TYPED = {
  evidence: "called from +44 7700 900123, confirmed DOB 1990-01-01",
  cliEvidence: "matched passport Q7731-ORCHID at the desk",
  extension: "waiting on the scan of passport P1234567X",
  rejection: "caller was Quentin Marchbanks, not the account holder",
  cancellation: "withdrawn by phone, now living at 12 Quarry Lane",
  hold: "litigation with Hortensia Vandersloot",
  release: "settled through counsel Ignatius Pemberton",
};
const NEEDLES = ["7700 900123", "1990-01-01", "Q7731-ORCHID", "P1234567X", "Marchbanks", "Quarry Lane", "Vandersloot", "Pemberton"];
/** Each column a person's words are kept in while they serve their purpose. */
const ON_THE_RECORDS = ["legal_holds.reason", "legal_holds.releaseReason", "requests.extensionReason", "requests.statusReason", "requests.verificationEvidence"];
const VERIFY_TRAIL = `{ verifyAuditTrail(full: true) { ok problem checkedEvents } }`;
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason extensionReason verification { evidence } subject { email } } }`;

/** Every line the service logs, kept in memory. */
function capturedLog() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger("trace", {}, { destination: stream }) };
}

/** The needles the SQLite file and its write-ahead log hold, read byte by byte (none on MariaDB). */
function rawFileNeedles(url: string, needles: readonly string[] = NEEDLES): string[] {
  if (!url.startsWith("sqlite:")) return [];
  const file = url.slice("sqlite:".length);
  return [file, `${file}-wal`].filter((f) => fs.existsSync(f)).flatMap((f) => needlesIn(fs.readFileSync(f), needles).map((n) => `${path.basename(f)}: ${n}`));
}

/**
 * Invariant 7 for the words people type: staff write personal data into free text ("called from +44 ...,
 * confirmed DOB ..."). Before, the audit trail carried the reasons of rejections, cancellations,
 * deadline extensions and hold releases in the clear, for good, and the request and hold records kept
 * every such text after their subject's identities had been cleared; and a verified request nobody
 * decided stayed PENDING_APPROVAL for ever, keeping the person's identities with it.
 */
describeEachDatabase("the free text people type, and requests nobody decides", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("keeps a person's words only on the record they explain, never in the trail, the log or the metrics, and removes them with it", async function () {
    this.timeout(180_000);
    const log = capturedLog();
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(EMAIL.toLowerCase(), 2);
    t = await new TestService(db(), ENV, [accounts], log.logger).start();
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    const subject = { email: EMAIL };

    // An ACCESS whose identity staff checked on the phone, its deadline extended, approved and completed.
    const access = await submit(t, { type: "ACCESS", subject, identityVerified: true, verificationEvidence: TYPED.evidence });
    await t.ok(`mutation($id: ID!, $r: String!) { extendDeadline(id: $id, days: 10, reason: $r) { id } }`, { id: access.id, r: TYPED.extension });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access.id });
    await t.waitFor(async () => ((await show(access.id)).status === "COMPLETED" ? true : undefined), "the access completed", 60_000);
    // One refused and one withdrawn, with the reasons staff typed; one submitted through the CLI.
    const refused = await submit(t, { type: "ACCESS", subject, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!, $r: String!) { rejectRequest(id: $id, reason: $r) { id } }`, { id: refused.id, r: TYPED.rejection });
    const withdrawn = await submit(t, { type: "ACCESS", subject, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!, $r: String!) { cancelRequest(id: $id, reason: $r) { id } }`, { id: withdrawn.id, r: TYPED.cancellation });
    const cli = await dsr(["request", "submit", "--type", "ACCESS", "--email", EMAIL, "--verified", TYPED.cliEvidence], { DSR_URL: t.url, DSR_TOKEN: t.tokens[Role.ADMIN] });
    expect(cli.code, cli.stderr).to.equal(0);
    const viaCli = cli.stdout.trim();
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id, reason: "submitted twice") { id } }`, { id: viaCli });
    // A legal hold placed and released, each with its reason.
    const { placeLegalHold: hold } = await t.ok(
      `mutation($e: String!, $r: String!) { placeLegalHold(input: { subjectEmail: $e, reason: $r, caseReference: "CASE-2026-17" }) { id } }`,
      { e: EMAIL, r: TYPED.hold },
      Role.PRIVACY_OFFICER,
    );
    await t.ok(`mutation($id: ID!, $r: String!) { releaseLegalHold(id: $id, reason: $r) { id } }`, { id: hold.id, r: TYPED.release }, Role.PRIVACY_OFFICER);

    // While they serve, they are where they explain something (the request, the hold), and shown there.
    expect(await columnsHolding(t.ds, NEEDLES), "columns holding what people typed").to.deep.equal(ON_THE_RECORDS);
    expect((await show(refused.id)).statusReason).to.equal(TYPED.rejection);
    expect((await show(access.id)).verification.evidence).to.equal(TYPED.evidence);
    // The trail says a reason was given and who gave it, not the words.
    const trail = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action actor { role } details } }`, { id: refused.id }, Role.AUDITOR)).auditEvents;
    expect(trail.find((e: any) => e.action === "request.rejected")).to.deep.equal({ action: "request.rejected", actor: { role: "ADMIN" }, details: { from: "PENDING_APPROVAL", to: "REJECTED", reasonGiven: true } });
    expect((await t.ok(VERIFY_TRAIL, {}, Role.AUDITOR)).verifyAuditTrail).to.include({ ok: true, problem: null });

    // Every period passes: the grace, the exports', then the request records' (DSR_REQUEST_RECORD_RETENTION_DAYS).
    for (const days of [2, 31, 731]) {
      t.clock.advance(days * DAY);
      await purgeExpiredExports(t.service.services);
    }
    expect(await columnsHolding(t.ds, NEEDLES), "columns holding what people typed, once every period passed").to.deep.equal([]);
    expect(rawFileNeedles(db().url), "the SQLite file and its log").to.deep.equal([]);
    const after = await show(refused.id);
    expect(after).to.include({ status: "REJECTED", statusReason: null });
    expect((await show(access.id)).verification.evidence).to.equal(null);
    const { legalHolds } = await t.ok(`{ legalHolds(status: RELEASED) { id reason releaseReason caseReference } }`, {}, Role.PRIVACY_OFFICER);
    expect(legalHolds).to.deep.equal([{ id: hold.id, reason: "", releaseReason: null, caseReference: "CASE-2026-17" }]);
    // The trail still verifies, whole.
    expect((await t.ok(VERIFY_TRAIL, {}, Role.AUDITOR)).verifyAuditTrail).to.include({ ok: true, problem: null });

    // Its data folder (keys, signed audit checkpoints), at no step either.
    // A checkpoint sealed now, after the last event (the checkpointer's own, every second, may not have run yet).
    await sealCheckpoint(t.service.services, { waitSeconds: 10 });
    const dataDir = t.service.services.config.dataDir;
    const files = fs.readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    expect(files.filter((f) => /audit-checkpoints[\\/]\d{12}\.json$/.test(f)).length, "checkpoints were written, and searched").to.be.greaterThan(0);
    expect(files.filter((f) => needlesIn(fs.readFileSync(f), NEEDLES).length), "files holding what people typed").to.deep.equal([]);
    // The service's own log, and its metrics, at no step.
    const metrics = await (await fetch(new URL("/metrics", t.url))).text();
    expect(needlesIn(metrics, NEEDLES), "the metrics").to.deep.equal([]);
    expect(log.lines.length, "the log was written").to.be.greaterThan(20);
    expect(log.lines.filter((l) => needlesIn(l, NEEDLES).length), "log lines holding what people typed").to.deep.equal([]);
  });

  it("closes a verified request nobody decided DSR_UNDECIDED_GRACE_DAYS after its due date, audited, and its record then lets the person go", async function () {
    this.timeout(120_000);
    const log = capturedLog();
    t = await new TestService(db(), ENV, [new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] })], log.logger).start();
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    // One verified by a trusted caller through the CLI, one by the emailed code: both wait for a decision nobody makes.
    const cli = await dsr(["request", "submit", "--type", "DELETION", "--email", EMAIL, "--phone", "+44 20 7946 0321", "--verified", TYPED.cliEvidence], { DSR_URL: t.url, DSR_TOKEN: t.tokens[Role.ADMIN] });
    expect(cli.code, cli.stderr).to.equal(0);
    const trusted = cli.stdout.trim();
    const coded = await submit(t, { type: "ACCESS", subject: { email: EMAIL } });
    await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id: coded.id, code: t.inbox.code(coded.id) });
    const dueAt = new Date((await t.ok(`query($id: ID!) { request(id: $id) { dueAt } }`, { id: trusted })).request.dueAt);
    const needles = [EMAIL.toLowerCase(), "+442079460321", "Q7731-ORCHID"];

    // Past its due date it is overdue and waits, for the grace (30 days by default).
    t.clock.set(new Date(dueAt.getTime() + 29 * DAY));
    await new Promise((r) => setTimeout(r, 300));
    expect((await show(trusted)).status).to.equal("PENDING_APPROVAL");
    expect((await show(coded.id)).status).to.equal("PENDING_APPROVAL");
    // Then the worker closes both, as the system.
    t.clock.set(new Date(dueAt.getTime() + 30 * DAY + 1000));
    for (const id of [trusted, coded.id]) {
      const closed = await t.waitFor(async () => {
        const r = await show(id);
        return r.status === "PENDING_APPROVAL" ? undefined : r;
      }, "the undecided request closed", 20_000);
      expect(closed.status).to.equal("REJECTED");
      expect(closed.statusReason).to.match(/^No one approved or rejected the request within 30 day\(s\) after its due date/);
      const events: Array<{ actorId: string; details: string }> = await t.ds.query(`SELECT actorId, details FROM audit_events WHERE requestId = ? AND action = 'request.rejected'`, [id]);
      expect(events.map((e) => [e.actorId, JSON.parse(e.details).reason])).to.deep.equal([["system", closed.statusReason]]);
    }
    expect(log.lines.some((l) => JSON.parse(l).msg?.startsWith("verified requests nobody decided closed")), "the log says so").to.equal(true);
    expect(await columnsHolding(t.ds, needles), "while the record is kept").to.include.members(["requests.subjectEmail", "requests.subjectPhone", "requests.verificationEvidence"]);

    // DSR_REQUEST_RECORD_RETENTION_DAYS after that, nothing of the person is left.
    t.clock.advance(731 * DAY);
    await purgeExpiredExports(t.service.services);
    expect(await columnsHolding(t.ds, needles), "columns holding the person").to.deep.equal([]);
    expect(rawFileNeedles(db().url, needles), "the SQLite file and its log").to.deep.equal([]);
    expect(await t.count("request_identities")).to.equal(0);
    // Nor, at any step, in the service's log or metrics.
    expect(needlesIn(await (await fetch(new URL("/metrics", t.url))).text(), needles), "the metrics").to.deep.equal([]);
    expect(log.lines.filter((l) => needlesIn(l, [...needles, "+44 20 7946 0321"]).length), "log lines holding the person").to.deep.equal([]);
  });
});
