import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { keyFromPrivatePem, signDocument, verifyDocument } from "../src/certificates/signing";
import { createManualConnector } from "../src/connectors/manual";
import { Role } from "../src/domain/enums";
import { describeEachDatabase, tempDir } from "./support/databases";
import { approved, submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

/** The real `dsr` binary (this file runs from dist/test/). */
const BIN = path.resolve(__dirname, "../../bin/dsr.js");
const ADA = "ada.lovelace@example.com";
const DAY = 86_400_000;
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) {
  requestId answeredWith subjectReference receivedAt completedAt issuedAt keyId signed
  erased { connector status records kept note } kept { connector category recordType records legalBasis retainUntil holdId extendedByHoldId status } } }`;

/** Runs `dsr certificate verify` as an auditor would, with none of the service's settings. */
function dsrVerify(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DSR_") && k !== "DATABASE_URL" && k !== "NODE_ENV"));
  const run = spawnSync(process.execPath, [BIN, "certificate", "verify", ...args], { env, encoding: "utf8", timeout: 20_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describeEachDatabase("deletion certificate", (db) => {
  let t: TestService;
  let dir: string;
  let payments: ScriptedConnector;
  afterEach(async () => {
    await t?.stop();
  });

  async function start() {
    payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] });
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 3);
    const readOnly = new ScriptedConnector({ name: "newsletter", supports: ["access"] });
    t = await new TestService(db(), FAST, [payments, account, readOnly]).start();
    const now = t.clock.now().getTime();
    payments.seedDated(ADA, [new Date(now - 8 * 365 * DAY), new Date(now - DAY), new Date(now - 2 * DAY)]);
    dir = tempDir("dsr-cert-");
  }

  async function completedDeletion(email = ADA): Promise<string> {
    const r = await submit(t, { type: "DELETION", subject: { email, userId: "u-ada-1" }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request.status === "COMPLETED" ? true : undefined), "deletion COMPLETED");
    return r.id;
  }

  async function publishedKey(): Promise<string> {
    const response = await fetch(new URL("/.well-known/dsr-certificate-key.pem", t.url));
    expect(response.status).to.equal(200);
    const pem = await response.text();
    const { certificatePublicKey } = await t.ok(`{ certificatePublicKey { algorithm keyId pem } }`, {}, Role.AUDITOR);
    expect(certificatePublicKey.pem).to.equal(pem);
    const file = path.join(dir, "service-key.pem");
    fs.writeFileSync(file, pem);
    return file;
  }

  it("certifies what each connector erased and what is kept until when and why, without personal data, and verifies with the CLI", async () => {
    await start();
    const id = await completedDeletion();
    const { deletionCertificate: cert } = await t.ok(CERTIFICATE, { id }, Role.AUDITOR);
    expect(cert).to.include({ requestId: id, answeredWith: null, issuedAt: t.clock.now().toISOString() });
    expect(cert.erased).to.deep.equal([
      { connector: "account-db", status: "SUCCEEDED", records: 3, kept: 0, note: null },
      { connector: "newsletter", status: "SKIPPED", records: 0, kept: 0, note: "newsletter does not support erasure" },
      { connector: "payments", status: "SUCCEEDED", records: 1, kept: 2, note: null },
    ]);
    const retainUntil = new Date(t.clock.now().getTime() - DAY);
    retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + 7);
    expect(cert.kept).to.deep.equal([
      { connector: "payments", category: "PAYMENTS", recordType: "row", records: 2, legalBasis: "tax and financial compliance", retainUntil: retainUntil.toISOString(), holdId: null, extendedByHoldId: null, status: "OPEN" },
    ]);
    expect(cert.subjectReference).to.match(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(cert.signed).not.to.include(ADA);
    expect(cert.signed).not.to.include("u-ada-1");
    expect(JSON.parse(cert.signed).certificate.kept).to.deep.equal(cert.kept);

    const file = path.join(dir, "certificate.json");
    fs.writeFileSync(file, cert.signed);
    const key = await publishedKey();
    const pinned = dsrVerify(file, "--public-key", key);
    expect(pinned.code, pinned.stderr).to.equal(0);
    expect(pinned.stdout).to.equal(`certificate valid: request ${id} completed ${cert.completedAt}, 4 record(s) erased, 2 kept; signed by the given key ${cert.keyId}\n`);
    // Without the service's key the file is not called valid: the key it names could be anyone's.
    const unpinned = dsrVerify(file);
    expect(unpinned.code).to.equal(1);
    expect(unpinned.stdout).to.equal("");
    expect(unpinned.stderr).to.equal(
      `dsr: certificate INVALID: not checked against the service's key: the file is signed by key ${cert.keyId}, which it names itself (anyone can sign a file with a key of their own); pass --public-key with the service's published key\n`,
    );
  });

  it("calls no certificate valid that another key signed, however well formed: a forgery signed with the forger's own key", async () => {
    await start();
    const id = await completedDeletion();
    const { signed } = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    const body = JSON.parse(signed).certificate;
    // The forger claims the two kept payments were erased too, and signs with a key of their own.
    const forged = { ...body, erased: body.erased.map((e: any) => (e.connector === "payments" ? { ...e, records: 3, kept: 0 } : e)), kept: [] };
    const file = path.join(dir, "forged.json");
    fs.writeFileSync(file, signDocument(forged, keyFromPrivatePem(generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString())));
    const offline = dsrVerify(file);
    expect(offline.code, offline.stdout).to.equal(1);
    expect(offline.stdout).to.equal("");
    expect(offline.stderr).to.match(/^dsr: certificate INVALID: not checked against the service's key/);
    const pinned = dsrVerify(file, "--public-key", await publishedKey());
    expect(pinned.code).to.equal(1);
    expect(pinned.stderr).to.match(/^dsr: certificate INVALID: signed by key ed25519:[0-9a-f]{16}, not by the given key/);
  });

  it("says how each erasure is known: read back, the connector's report, or a person's attestation (named)", async function () {
    this.timeout(60_000);
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 3);
    // Erases, but cannot list anyone's records: what it reports cannot be read back.
    const crm = new ScriptedConnector({ name: "crm-sync", categories: ["ACCOUNT"], supports: ["erasure"] }).seed(ADA, 2);
    const archive = createManualConnector({ name: "paper-archive", categories: ["SUPPORT"], supports: ["erasure"], instructions: { erase: "Shred the subject's files." } });
    t = await new TestService(db(), FAST, [account, crm, archive]).start();
    dir = tempDir("dsr-cert-");
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const TASKS = `query($id: ID!) { request(id: $id) { status tasks { id connector step status outcome { erased confirmation attestedBy } } } }`;
    const manual = await t.waitFor(async () => (await t.ok(TASKS, { id: r.id })).request.tasks.find((x: any) => x.connector === "paper-archive" && x.status === "AWAITING_INPUT"), "the archive's erasure awaits a person");
    await t.ok(`mutation($id: ID!) { completeManualTask(input: { taskId: $id, erasedCount: 5 }) { id } }`, { id: manual.id }, Role.PRIVACY_OFFICER);
    const done = await t.waitFor(async () => {
      const x = (await t.ok(TASKS, { id: r.id })).request;
      return x.status === "COMPLETED" ? x : undefined;
    }, "deletion COMPLETED");
    const [{ actorId }] = await t.ds.query(`SELECT actorId FROM audit_events WHERE action = 'task.completed_by_hand'`);
    expect(actorId).to.match(/^token:/);

    // The systems: the account database was read again after its erase; the CRM never was, and cannot be.
    const lastErase = account.callsOf("erase").at(-1)!.wallMs;
    expect(account.callsOf("collect").filter((c) => c.wallMs >= lastErase), "account-db read back after erasing").to.have.length(1);
    expect(crm.callsOf("collect"), "crm-sync never read").to.deep.equal([]);
    expect(account.data.get(ADA) ?? []).to.deep.equal([]);

    const outcome = (name: string) => done.tasks.find((x: any) => x.connector === name && x.step === "ERASE").outcome;
    expect(outcome("account-db")).to.deep.equal({ erased: 3, confirmation: "READ_BACK", attestedBy: null });
    expect(outcome("crm-sync")).to.deep.equal({ erased: 2, confirmation: "CONNECTOR_REPORT", attestedBy: null });
    expect(outcome("paper-archive")).to.deep.equal({ erased: 5, confirmation: "ATTESTED", attestedBy: actorId });

    const { deletionCertificate: cert } = await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { keyId completedAt signed erased { connector records confirmation attestedBy } } }`, { id: r.id }, Role.AUDITOR);
    const expected = [
      { connector: "account-db", records: 3, confirmation: "READ_BACK", attestedBy: null },
      { connector: "crm-sync", records: 2, confirmation: "CONNECTOR_REPORT", attestedBy: null },
      { connector: "paper-archive", records: 5, confirmation: "ATTESTED", attestedBy: actorId },
    ];
    expect(cert.erased).to.deep.equal(expected);
    const signed = JSON.parse(cert.signed).certificate;
    expect(signed.format).to.equal("dsr-deletion-certificate/8");
    expect(signed.erased.map((e: any) => ({ connector: e.connector, records: e.records, confirmation: e.confirmation, attestedBy: e.attestedBy }))).to.deep.equal(expected);
    const file = path.join(dir, "certificate.json");
    fs.writeFileSync(file, cert.signed);
    const verified = dsrVerify(file, "--public-key", await publishedKey());
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.equal(
      `certificate valid: request ${r.id} completed ${cert.completedAt}, 10 record(s) erased (2 in crm-sync on the connector's report, 5 in paper-archive attested by ${actorId}, not read back), 0 kept; signed by the given key ${cert.keyId}\n`,
    );
  });

  it("fails verification when any byte of the file changes, or when another key signed it", async () => {
    await start();
    const id = await completedDeletion();
    const { signed } = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    const key = await publishedKey();
    const file = path.join(dir, "changed.json");
    const digit = signed.indexOf('"records":3') + '"records":'.length;
    fs.writeFileSync(file, `${signed.slice(0, digit)}0${signed.slice(digit + 1)}`);
    const changed = dsrVerify(file, "--public-key", key);
    expect(changed.code).to.equal(1);
    expect(changed.stdout).to.equal("");
    expect(changed.stderr).to.equal("dsr: certificate INVALID: the signature does not match the certificate\n");
    // Every single changed byte, wherever it is, is refused (checked in-process: the CLI runs the same function).
    const pem = fs.readFileSync(key, "utf8");
    for (let i = 0; i < signed.length; i++) {
      const flipped = signed.slice(0, i) + (signed[i] === "a" ? "b" : "a") + signed.slice(i + 1);
      expect(verifyDocument(flipped, pem).ok, `byte ${i} (${JSON.stringify(signed[i])}) changed`).to.equal(false);
    }
    expect(verifyDocument(signed, pem).ok).to.equal(true);
    const stranger = path.join(dir, "stranger.pem");
    fs.writeFileSync(stranger, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    fs.writeFileSync(file, signed);
    const otherKey = dsrVerify(file, "--public-key", stranger);
    expect(otherKey.code).to.equal(1);
    expect(otherKey.stderr).to.match(/^dsr: certificate INVALID: signed by key ed25519:[0-9a-f]{16}, not by the given key ed25519:[0-9a-f]{16}\n$/);
    expect(dsrVerify(path.join(dir, "missing.json")).code).to.equal(2);
  });

  it("is a CONFLICT for a deletion that has not completed and for other request types; NOT_FOUND for an unknown id", async () => {
    await start();
    payments.script("erase", { kind: "hang" });
    const r = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "signed-in session" });
    const pending = await t.gql(CERTIFICATE, { id: r.id });
    expect(pending.errors!.map((e) => [e.extensions.code, e.message])).to.deep.equal([
      ["CONFLICT", `Request ${r.id} is PENDING_APPROVAL; a deletion certificate exists once the request is COMPLETED`],
    ]);
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    expect((await t.gql(CERTIFICATE, { id: r.id })).errors![0].extensions.code).to.equal("CONFLICT");
    const access = await submit(t, { type: "ACCESS", subject: { email: "grace.hopper@example.com" }, identityVerified: true, verificationEvidence: "x-check" });
    expect((await t.gql(CERTIFICATE, { id: access.id })).errors![0].extensions.code).to.equal("CONFLICT");
    expect((await t.gql(CERTIFICATE, { id: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc" })).errors![0].extensions.code).to.equal("NOT_FOUND");
  });

  it("names the legal hold that keeps a set past its retention, when the hold came after the erasure, from the moment it is placed", async () => {
    await start();
    const id = await completedDeletion();
    const before = (await t.ok(CERTIFICATE, { id })).deletionCertificate.kept;
    expect(before.map((k: any) => [k.connector, k.records, k.holdId, k.extendedByHoldId])).to.deep.equal([["payments", 2, null, null]]);
    const retainUntil = before[0].retainUntil;
    const { placeLegalHold: hold } = await t.ok(
      `mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["PAYMENTS"], reason: "Tax audit", caseReference: "AUD-9" }) { id } }`,
      {},
      Role.PRIVACY_OFFICER,
    );
    // At once, while the tax rule still keeps them: a certificate issued now must not promise their purge at retainUntil.
    const extended = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
    expect(extended.kept).to.deep.equal([
      { connector: "payments", category: "PAYMENTS", recordType: "row", records: 2, legalBasis: before[0].legalBasis, retainUntil, holdId: null, extendedByHoldId: hold.id, status: "OPEN" },
    ]);
    expect(JSON.parse(extended.signed).certificate.kept[0]).to.include({ retainUntil, extendedByHoldId: hold.id });
    const { request } = await t.ok(`query($id: ID!) { request(id: $id) { retentionExceptions { retainUntil holdId extendedByHoldId } } }`, { id });
    expect(request.retentionExceptions).to.deep.equal([{ retainUntil, holdId: null, extendedByHoldId: hold.id }]);
    // Eight years on, the tax rule no longer keeps the two payments; the hold does.
    t.clock.advance(8 * 365 * DAY);
    const held = await t.waitFor(async () => {
      const { kept } = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
      return kept[0].holdId ? kept : undefined;
    }, "the certificate names the hold");
    expect(payments.data.get(ADA), "the hold keeps both payments").to.have.length(2);
    expect(held).to.deep.equal([{ connector: "payments", category: "PAYMENTS", recordType: "row", records: 2, legalBasis: "legal hold AUD-9", retainUntil: null, holdId: hold.id, extendedByHoldId: null, status: "OPEN" }]);
    // Released: the purge erases them and closes the set.
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Audit closed") { status } }`, { id: hold.id }, Role.PRIVACY_OFFICER);
    const closed = await t.waitFor(async () => {
      const { kept } = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
      return kept[0].status === "CLOSED" ? kept : undefined;
    }, "the held set purged once released");
    expect(closed[0]).to.include({ holdId: hold.id, records: 2 });
    expect(payments.data.get(ADA) ?? []).to.deep.equal([]);
  });

  it("shows a set an earlier deletion kept as closed once a later deletion (a minor's) erased it, and says which", async () => {
    const logins = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"] });
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 1);
    t = await new TestService(db(), FAST, [logins, account]).start();
    const now = t.clock.now().getTime();
    logins.seedDated(ADA, [new Date(now - DAY), new Date(now - 2 * DAY)]);
    const first = await completedDeletion();
    const before = (await t.ok(CERTIFICATE, { id: first })).deletionCertificate.kept;
    expect(before.map((k: any) => [k.connector, k.records, k.status])).to.deep.equal([["auth-log", 2, "OPEN"]]);
    // Learned later: the person is under 18. A minor's deletion keeps no legitimate-interest data.
    const minor = await submit(t, { type: "DELETION", subject: { email: ADA, userId: "u-ada-1" }, identityVerified: true, verificationEvidence: "signed-in session", concernsMinor: true });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: minor.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: minor.id })).request.status === "COMPLETED" ? true : undefined), "minor's deletion COMPLETED");
    expect(logins.data.get(ADA) ?? [], "the logins are gone").to.deep.equal([]);
    const after = (await t.ok(CERTIFICATE, { id: first })).deletionCertificate.kept;
    expect(after.map((k: any) => [k.connector, k.records, k.status])).to.deep.equal([["auth-log", 2, "CLOSED"]]);
    const { auditEvents } = await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: first });
    const closed = auditEvents.find((e: any) => e.action === "retention.erased_by_later_request");
    expect(closed?.details).to.deep.include({ byRequest: minor.id, connector: "auth-log", exceptions: 1 });
  });

  /**
   * The earlier deletion was still at work (another system's erasure waiting for its remote work) when the
   * minor's erased the logins it kept: only ended deletions' sets were closed, so once it completed its
   * certificate said 2 logins kept while the auth log held none, until a purge years later.
   */
  it("closes a set a deletion still at work kept, once a later deletion (a minor's) erased it", async () => {
    const logins = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS"] });
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 1);
    account.script("erase", { kind: "remote", pollAfterMs: 3_600_000, polls: 1 });
    t = await new TestService(db(), FAST, [logins, account]).start();
    const now = t.clock.now().getTime();
    logins.seedDated(ADA, [new Date(now - DAY), new Date(now - 2 * DAY)]);
    const STATUS = `query($id: ID!) { request(id: $id) { status tasks { connector step status } retentionExceptions { connector recordCount status } } }`;
    const first = await approved(t, { type: "DELETION", subject: { email: ADA, userId: "u-ada-1" } });
    await t.waitFor(async () => {
      const { request } = await t.ok(STATUS, { id: first });
      return request.tasks.some((x: any) => x.connector === "account-db" && x.step === "ERASE" && x.status === "REMOTE_PROCESSING") && request.retentionExceptions.length ? true : undefined;
    }, "the first deletion kept the logins and waits for the account database");
    const minor = await approved(t, { type: "DELETION", subject: { email: ADA, userId: "u-ada-1" }, concernsMinor: true });
    await t.waitFor(async () => ((await t.ok(STATUS, { id: minor })).request.status === "COMPLETED" ? true : undefined), "minor's deletion COMPLETED");
    expect(logins.data.get(ADA) ?? [], "the logins are gone").to.deep.equal([]);
    expect((await t.ok(STATUS, { id: first })).request.status, "the first deletion is still at work").to.equal("IN_PROGRESS");
    t.clock.advance(2 * 3_600_000);
    await t.waitFor(async () => ((await t.ok(STATUS, { id: first })).request.status === "COMPLETED" ? true : undefined), "first deletion COMPLETED");
    const kept = (await t.ok(CERTIFICATE, { id: first })).deletionCertificate.kept;
    expect(kept.map((k: any) => [k.connector, k.records, k.status]), "the first deletion's certificate: nothing kept that the auth log no longer holds").to.deep.equal([["auth-log", 2, "CLOSED"]]);
    const { auditEvents } = await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: first });
    expect(auditEvents.find((e: any) => e.action === "retention.erased_by_later_request")?.details).to.deep.include({ byRequest: minor, connector: "auth-log", exceptions: 1 });
  });

  it("lets an operator retry a purge that failed years after the deletion ended, so the kept set is purged and shown closed", async () => {
    await start();
    const id = await completedDeletion();
    // Seven years on, the payment system refuses the purge of the two payments the tax rule kept.
    payments.script("erase", { kind: "fatal" });
    t.clock.advance(8 * 365 * DAY);
    const TASKS = `query($id: ID!) { request(id: $id) { status tasks { id step status } } }`;
    const failed = await t.waitFor(async () => (await t.ok(TASKS, { id })).request.tasks.find((x: any) => x.step === "PURGE" && x.status === "FAILED"), "the purge failed");
    expect(payments.data.get(ADA)).to.have.length(2);
    expect((await t.ok(CERTIFICATE, { id })).deletionCertificate.kept.map((k: any) => k.status)).to.deep.equal(["OPEN"]);
    // The purge works from the identities an open exception keeps, not from what the grace removed.
    const retried = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { id status } }`, { id: failed.id });
    expect(retried.errors, JSON.stringify(retried.errors)).to.equal(undefined);
    const kept = await t.waitFor(async () => {
      const { kept } = (await t.ok(CERTIFICATE, { id })).deletionCertificate;
      return kept[0].status === "CLOSED" ? kept : undefined;
    }, "the kept set purged");
    expect(kept[0]).to.include({ connector: "payments", records: 2 });
    expect(payments.data.get(ADA) ?? []).to.deep.equal([]);
    expect((await t.ok(TASKS, { id })).request.status, "the deletion stays COMPLETED").to.equal("COMPLETED");
  });

  it("gives one subject the same reference on every certificate, and a different subject another", async () => {
    await start();
    const first = await completedDeletion();
    const second = await completedDeletion();
    const other = await completedDeletion("grace.hopper@example.com");
    const ref = async (id: string) => (await t.ok(CERTIFICATE, { id })).deletionCertificate.subjectReference;
    expect(await ref(first)).to.equal(await ref(second));
    expect(await ref(other)).not.to.equal(await ref(first));
  });
});
