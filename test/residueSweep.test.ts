import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { hashedEmailKey } from "../src/domain/identities";
import { Role } from "../src/domain/enums";
import { purgeExpiredExports } from "../src/export/purge";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { createSqliteDatabase, describeEachDatabase, type TestDatabase } from "./support/databases";
import { submit, TEST_START, TestService } from "./support/harness";
import { columnsHolding, needlesIn } from "./support/residue";
import { ScriptedConnector } from "./support/scriptedConnector";
import { download, exportLink } from "./export/support";

/** A second connection to a SQLite file, as another process opens it (better-sqlite3 ships no types). */
const Database = require("better-sqlite3") as new (file: string) => { exec(sql: string): void; prepare(sql: string): { get(): unknown }; close(): void };

/** Zebulon, as he types himself, and what every system holds of him beside his address. */
const ZED = "Zebulon.Quixfeather@Example.com";
const PHONE_TYPED = "+44 20 7946 0999";
const NAME = "Zebulon Quixfeather";
/**
 * Every form in which he could sit in what the service keeps (searched case-insensitively): his address,
 * his phone as typed and normalized, his name (in his records and the correction he asked for), and the
 * SHA-256 hex of his normalized address (the hold fence's key).
 */
const NEEDLES = [ZED.toLowerCase(), PHONE_TYPED, "+442079460999", NAME, hashedEmailKey(ZED.toLowerCase())].map((n) => n.toLowerCase());
const DAY = 86_400_000;
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000", DSR_TASK_MAX_ATTEMPTS: "1", DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "20", DSR_AUDIT_CHECKPOINT_SECONDS: "1" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason retentionExceptions { status } } }`;
/** The columns that hold his identities while they serve (each cleared when its purpose ends). */
const WHILE_THEY_SERVE = [
  "erasure_fences.subjectKey",
  "legal_holds.subjectEmail",
  "request_identities.value",
  "requests.corrections",
  "requests.subjectEmail",
  "requests.subjectEmailAsTyped",
  "requests.subjectPhone",
];

/** The needles `bytes` holds. */
const needlesOf = (bytes: Buffer) => needlesIn(bytes, NEEDLES);

/** Every file under `dir`, relative, with the needles it holds in the clear. */
function filesUnder(dir: string): Array<{ file: string; holds: string[] }> {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .map((file) => ({ file: path.relative(dir, file), holds: needlesOf(fs.readFileSync(file)) }))
    .sort((a, b) => a.file.localeCompare(b.file));
}

/**
 * Invariant 7 from outside: a person's requests end in every way there is, then every period the README
 * documents passes (DSR_STAGED_GRACE_MINUTES, export retention, the fence's purge, the retention rules,
 * a released hold, DSR_REQUEST_RECORD_RETENTION_DAYS), and what the service keeps is searched as someone
 * with read access would: every row of its database, its data folder and export storage, its temporary
 * folders, and on SQLite the database file and its write-ahead log themselves. Before, the SQLite file
 * and log still held his address, phone and the fence's hash of his address after every row that held
 * them was gone (freed bytes are not erased: secure_delete and a truncated log now see to it).
 */
describeEachDatabase("what a person leaves in the service's keeping once every period has passed", (db) => {
  let t: TestService;
  let receiver: CallbackReceiver;
  afterEach(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  it("holds nothing of his in the clear while it serves, and nothing at all after, whatever his requests ended in", async function () {
    this.timeout(300_000);
    const ago = (days: number) => new Date(TEST_START.getTime() - days * DAY);
    const key = ZED.toLowerCase();
    // What the systems hold of him: his name, phone and address in every record.
    const his = (c: ScriptedConnector) => {
      for (const [email, rows] of c.data) c.data.set(email, rows.map((r) => ({ ...r, data: { ...r.data, name: NAME, phone: PHONE_TYPED, address: ZED } })));
      return c;
    };
    const accounts = his(new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], provides: ["phone"] }, { phone: "+442079460999" }).seed(key, 2));
    const payments = his(new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(key, [ago(8 * 365), ago(1)]));
    const tickets = his(new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seedDated(key, [ago(6 * 365), ago(10)]));
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...ENV, DSR_CALLBACK_URL: receiver.url }, [accounts, payments, tickets]).start();
    const dataDir = t.service.services.config.dataDir;
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    const ended = (id: string) =>
      t.waitFor(async () => {
        const r = await show(id);
        return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
      }, "the request ended", 60_000);
    const verified = { subject: { email: ZED, phone: PHONE_TYPED }, identityVerified: true, verificationEvidence: "signed-in session" };
    const approved = async (input: Record<string, unknown>) => {
      const r = await submit(t, { ...verified, ...input });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      return ended(r.id);
    };

    // ACCESS and PORTABILITY completed (one exported archive downloaded), an ACCESS that failed with two systems' records staged.
    expect((await approved({ type: "ACCESS" })).status).to.equal("COMPLETED");
    const access = (await t.ds.query(`SELECT id FROM requests WHERE type = 'ACCESS'`))[0].id;
    const got = await download((await exportLink(t, access)).url);
    expect(got.status).to.equal(200);
    fs.rmSync(path.dirname(got.file!), { recursive: true, force: true });
    expect((await approved({ type: "PORTABILITY" })).status).to.equal("COMPLETED");
    tickets.script("collect", { kind: "fatal" });
    expect((await approved({ type: "ACCESS" })).status).to.equal("FAILED");
    // An ACCESS never verified (its code mailed; closed REJECTED at its due date), one REJECTED, one CANCELLED.
    await submit(t, { type: "ACCESS", subject: { email: ZED } });
    const refused = await submit(t, { type: "ACCESS", ...verified });
    await t.ok(`mutation($id: ID!) { rejectRequest(id: $id, reason: "not the account holder") { status } }`, { id: refused.id });
    const withdrawn = await submit(t, { type: "ACCESS", ...verified });
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id, reason: "withdrawn by the subject") { status } }`, { id: withdrawn.id });
    // A CORRECTION of his name.
    expect((await approved({ type: "CORRECTION", corrections: [{ field: "name", value: `${NAME}-Smythe` }] })).status).to.equal("COMPLETED");
    // A legal hold on two categories, a DELETION whose every erasure failed, then his settings deletion under the hold.
    const { placeLegalHold: hold } = await t.ok(
      `mutation($email: String!) { placeLegalHold(input: { subjectEmail: $email, categories: ["SUPPORT", "ACCOUNT"], reason: "Dispute over invoices", caseReference: "CASE-QX" }) { id } }`,
      { email: ZED },
      Role.PRIVACY_OFFICER,
    );
    for (const c of [accounts, payments, tickets]) c.script("erase", { kind: "fatal" });
    expect((await approved({ type: "DELETION" })).status).to.equal("FAILED");
    const { requestAccountDeletion: own } = await t.ok(`mutation($email: String!) { requestAccountDeletion(input: { idempotencyKey: "zed-settings-0001", subject: { email: $email } }) { id } }`, { email: ZED }, Role.SERVICE);
    const deletion = await ended(own.id);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches`))[0].n), "the failed access's records, staged").to.be.greaterThan(0);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM kept_undated_ids`))[0].n), "the ids of what the hold keeps undated").to.be.greaterThan(0);

    // While they serve: his identities in their own columns, his records nowhere in the clear (staged, exported).
    expect(await columnsHolding(t.ds, NEEDLES)).to.deep.equal(WHILE_THEY_SERVE);
    const exported = filesUnder(dataDir).filter((f) => f.file.startsWith("exports"));
    expect(exported.map((f) => f.holds)).to.deep.equal([[], []]);

    // The hold is released: its purge erases what only it kept; a rule keeps the rest (payments 7 years, tickets 5).
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Case settled") { status } }`, { id: hold.id });
    const open = async () => (await show(own.id)).retentionExceptions.filter((e: any) => e.status === "OPEN").length;
    await t.waitFor(async () => ((await open()) === 2 ? true : undefined), "the held sets purged, the rules' sets open");
    const purge = () => purgeExpiredExports(t.service.services);
    for (const days of [2, 31]) {
      t.clock.advance(days * DAY);
      await purge();
    }
    t.clock.advance(7 * 365 * DAY);
    await t.waitFor(async () => ((await open()) === 0 ? true : undefined), "every kept set purged", 60_000);
    await purge();
    t.clock.advance(731 * DAY);
    await purge();
    expect([...accounts.data.keys(), ...payments.data.keys(), ...tickets.data.keys()], "the systems hold nothing of his").to.deep.equal([]);

    expect(await columnsHolding(t.ds, NEEDLES), "columns of the service's database holding him").to.deep.equal([]);
    // Nor anything encrypted (its keys are wrapped by the master key in the data folder): each kind of row gone with its purpose.
    const left: Record<string, number> = {};
    for (const table of ["staged_batches", "staged_keys", "surveyed_ids", "kept_undated_ids", "request_identities", "erasure_fences", "erasure_units", "exports"]) {
      left[table] = Number((await t.ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
    }
    expect(left).to.deep.equal({ staged_batches: 0, staged_keys: 0, surveyed_ids: 0, kept_undated_ids: 0, request_identities: 0, erasure_fences: 0, erasure_units: 0, exports: 0 });
    // The data folder and export storage: the service's keys, and the audit trail's signed checkpoints (stream heads: ids and hashes).
    const files = filesUnder(dataDir);
    expect(files.filter((f) => f.holds.length), "files holding him").to.deep.equal([]);
    expect(files.filter((f) => !f.file.startsWith("audit-checkpoints/")).map((f) => f.file)).to.deep.equal(["audit-signing-key.pem", "certificate-key.pem", "export-master.key", "secret.key"]);
    expect(files.length, "checkpoints were written, and searched").to.be.greaterThan(4);
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("dsr-tmp-") && n.includes(`-${process.pid}-`)), "temporary folders").to.deep.equal([]);
    if (db().kind === "sqlite") {
      // The database file itself, and its write-ahead log, read byte by byte.
      const file = db().url.slice("sqlite:".length);
      const raw = [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => ({ file: path.basename(f), holds: needlesOf(fs.readFileSync(f)) }));
      expect(raw).to.deep.equal([{ file: "dsr.sqlite", holds: [] }, { file: "dsr.sqlite-wal", holds: [] }]);
      // Staged batches (ciphertext) were freed without zeroing; everything else is zeroed again after.
      expect(await t.ds.query("PRAGMA secure_delete")).to.deep.equal([{ secure_delete: 1 }]);
    }
  });
});

describe("truncating the SQLite log after a purge run, while another process reads", () => {
  let db: TestDatabase;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await db.drop();
  });

  it("answers at once, the log left for the next run, rather than hold the event loop for the busy timeout", async function () {
    this.timeout(60_000);
    db = await createSqliteDatabase();
    t = await new TestService(db).start();
    await submit(t, { type: "ACCESS", subject: { email: ZED } });
    // A CLI command elsewhere, in the middle of a read: its snapshot pins the log.
    const other = new Database(db.url.slice("sqlite:".length));
    try {
      other.exec("BEGIN");
      other.prepare("SELECT COUNT(*) FROM requests").get();
      await submit(t, { type: "ACCESS", subject: { email: ZED } });
      const started = performance.now();
      await purgeExpiredExports(t.service.services);
      expect(performance.now() - started, "ms the purge run took").to.be.below(2000);
      other.exec("COMMIT");
    } finally {
      other.close();
    }
    // The connection's busy timeout is as before (0: another process's lock is waited for off the
    // event loop, src/db/connectionQueue.ts), and the next run truncates the log.
    expect(await t.ds.query("PRAGMA busy_timeout")).to.deep.equal([{ timeout: 0 }]);
    await purgeExpiredExports(t.service.services);
    expect(fs.statSync(`${db.url.slice("sqlite:".length)}-wal`).size).to.equal(0);
  });
});
