import fs from "node:fs";
import path from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CheckpointChainError, Checkpointer, sealCheckpoint } from "../src/audit/checkpointer";
import { S3CheckpointStore } from "../src/audit/checkpointStore";
import { auditTools } from "../src/audit/tools";
import { ConfigError, loadConfig } from "../src/config/env";
import { Role } from "../src/domain/enums";
import { createLogger } from "../src/logger";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { submitVerified, TestService } from "./support/harness";
import { dsr } from "./support/cliBinary";
import { createServer } from "node:net";
import { awsCredentials } from "./support/awsCredentials";

// s3rver ships no type declarations; this is the part of its API the test uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> };

const BUCKET = "dsr-audit";
const VERIFY = `{ verifyAuditTrail { ok latestCheckpoint problems { kind checkpoint description } } }`;

describe("audit checkpoints in S3 (s3rver on loopback), with Object Lock", () => {
  let server: InstanceType<typeof S3rver>;
  let db: TestDatabase;
  let t: TestService;
  let client: S3Client;
  let restoreCredentials: (() => void) | undefined;
  const puts: Array<Record<string, string>> = [];

  before(async function () {
    this.timeout(60_000);
    server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: tempDir("dsr-s3rver-"), configureBuckets: [{ name: BUCKET }] });
    const endpoint = `http://127.0.0.1:${(await server.run()).port}`;
    restoreCredentials = awsCredentials("S3RVER");
    client = new S3Client({ region: "eu-west-1", endpoint, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
    db = await createSqliteDatabase();
    t = await new TestService(db, { DSR_EXPORT_STORAGE: "s3", DSR_S3_BUCKET: BUCKET, DSR_S3_ENDPOINT: endpoint, DSR_AUDIT_OBJECT_LOCK: "COMPLIANCE", DSR_AUDIT_RETENTION_DAYS: "3650" }).start();
    // s3rver ignores Object Lock, so the test watches what the service's own client asks S3 for.
    const store = auditTools(t.service.services).store as S3CheckpointStore;
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "PutObjectCommand") puts.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return next(args);
      },
      { step: "finalizeRequest", name: "watchObjectLock" },
    );
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
    client?.destroy();
    await server?.close();
    restoreCredentials?.();
  });

  it("writes each checkpoint once, under retention, beside the exports; verification reads them back and notices a replaced one", async function () {
    this.timeout(60_000);
    await submitVerified(t);
    expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: true, number: 1 });
    await submitVerified(t);
    expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: true, number: 2 });
    expect(puts).to.have.length(2);
    expect(puts[0]).to.include({ "x-amz-object-lock-mode": "COMPLIANCE", "if-none-match": "*" });
    expect(puts[0]["content-md5"]).to.match(/^[A-Za-z0-9+/]{22}==$/);
    const until = new Date(puts[0]["x-amz-object-lock-retain-until-date"]).getTime();
    expect(Math.abs(until - (Date.now() + 3650 * 86_400_000))).to.be.below(60_000);
    const stored = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "audit-checkpoints/000000000002.json" }));
    const text = await stored.Body!.transformToString();
    expect(JSON.parse(text).checkpoint.previous.number).to.equal(1);
    expect((await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail).to.deep.include({ ok: true, latestCheckpoint: 2 });

    // A number is never written twice by the service...
    expect(await auditTools(t.service.services).store.putNew(2, text)).to.equal(false);
    // ...and a file replaced behind its back (possible here: s3rver has no Object Lock) is noticed.
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "audit-checkpoints/000000000001.json", Body: text }));
    const v = (await t.ok(`{ verifyAuditTrail(full: true) { ok problems { kind checkpoint description } } }`, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(v.ok).to.equal(false);
    expect(v.problems[0]).to.deep.include({ kind: "CHECKPOINT_ALTERED", checkpoint: 1 });
  });
});

describe("audit checkpoints in S3: a bucket that cannot be used, at start", () => {
  let server: InstanceType<typeof S3rver>;
  let endpoint: string;
  const SECRET = "s3rver-secret-never-printed";
  before(async function () {
    this.timeout(60_000);
    server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: tempDir("dsr-s3rver-"), configureBuckets: [{ name: BUCKET }] });
    endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  });
  after(async () => {
    await server?.close();
  });
  const env = (over: Record<string, string>) => ({ DSR_EXPORT_STORAGE: "s3", DSR_S3_BUCKET: BUCKET, DSR_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: SECRET, DSR_SAMPLE_WORKSPACE: "false", PORT: "0", ...over });
  /** A port nothing listens on: one the kernel gave out and took back. */
  const closedPort = () =>
    new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });

  it("refuses to serve or work (exit 78, naming DSR_S3_BUCKET) when the bucket does not exist, instead of answering ready while no checkpoint is sealed", async function () {
    this.timeout(60_000);
    for (const command of [["serve"], ["worker"], ["audit", "verify"], ["audit", "checkpoint"]]) {
      const run = await dsr(command, env({ DSR_S3_BUCKET: "no-such-bucket" }));
      expect(run.code, `dsr ${command.join(" ")}: ${run.stderr}`).to.equal(78);
      expect(run.stderr).to.include(`DSR_S3_BUCKET: the bucket "no-such-bucket" does not exist at ${new URL(endpoint).host}`);
      expect(run.stdout).to.not.include("listening");
      expect(run.stderr + run.stdout).to.not.include(SECRET);
    }
  });

  it("names DSR_S3_ENDPOINT, not DATABASE_URL, when S3 refuses the connection", async function () {
    this.timeout(60_000);
    const port = await closedPort();
    for (const command of [["audit", "verify"], ["serve"]]) {
      const run = await dsr(command, env({ DSR_S3_ENDPOINT: `http://127.0.0.1:${port}` }));
      expect(run.code, `dsr ${command.join(" ")}: ${run.stderr}`).to.equal(1);
      expect(run.stderr).to.include(`DSR_S3_ENDPOINT: cannot connect to S3 at 127.0.0.1:${port} (ECONNREFUSED)`);
      expect(run.stderr).to.not.include("DATABASE_URL");
    }
  });

  it("starts and verifies when the bucket is there", async function () {
    this.timeout(60_000);
    const cwd = tempDir();
    expect((await dsr(["migrate"], env({}), cwd)).code).to.equal(0);
    const run = await dsr(["audit", "verify"], env({}), cwd);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^The audit trail is intact/);
  });
});

describe("audit checkpointer in a running process", () => {
  let db: TestDatabase;
  let t: TestService;
  before(async () => {
    db = await createSqliteDatabase();
    t = await new TestService(db).start();
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
  });

  it("seals new events every DSR_AUDIT_CHECKPOINT_SECONDS, and nothing when nothing is new", async function () {
    this.timeout(30_000);
    const services = t.service.services;
    const checkpointer = new Checkpointer({ ...services, config: { ...services.config, DSR_AUDIT_CHECKPOINT_SECONDS: 1 }, logger: createLogger("silent") });
    checkpointer.start();
    try {
      await submitVerified(t);
      const first = await t.waitFor(async () => (await t.ok(VERIFY)).verifyAuditTrail.latestCheckpoint ?? undefined, "a checkpoint", 15_000);
      expect(first).to.equal(1);
      await new Promise((r) => setTimeout(r, 2500));
      expect((await t.ok(VERIFY)).verifyAuditTrail.latestCheckpoint).to.equal(1);
    } finally {
      await checkpointer.stop();
    }
  });
});

describe("audit checkpointer with another key", () => {
  it("refuses to extend checkpoints signed by another key, instead of forking the list", async function () {
    this.timeout(30_000);
    const db = await createSqliteDatabase();
    const t = await new TestService(db).start();
    try {
      await submitVerified(t);
      expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: true, number: 1 });
      await submitVerified(t);
      const other = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const services = { ...t.service.services, config: { ...t.service.services.config, DSR_AUDIT_SIGNING_KEY: other } };
      const refused = await sealCheckpoint(services).then(() => null, (error: Error) => error);
      expect(refused).to.be.instanceOf(CheckpointChainError);
      expect(refused!.message).to.match(/checkpoint 1 .* not signed by this process's key .*every serve and worker process must use the same DSR_AUDIT_SIGNING_KEY/);
      expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_checkpoints`))[0].n)).to.equal(1);
    } finally {
      await t.stop();
      await db.drop();
    }
  });
});

describe("audit settings", () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ DSR_DATA_DIR: tempDir(), ...env });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it("takes the signing key from a file, and refuses two sources, an unreadable file, or a key that is not Ed25519", () => {
    const dir = tempDir();
    const ed = path.join(dir, "ed.pem");
    fs.writeFileSync(ed, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }));
    const rsa = path.join(dir, "rsa.pem");
    fs.writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(problems({ DSR_AUDIT_SIGNING_KEY_FILE: ed })).to.deep.equal([]);
    expect(problems({ DSR_AUDIT_SIGNING_KEY_FILE: ed, DSR_AUDIT_SIGNING_KEY: fs.readFileSync(ed, "utf8") })).to.deep.equal(["set DSR_AUDIT_SIGNING_KEY or DSR_AUDIT_SIGNING_KEY_FILE, not both"]);
    expect(problems({ DSR_AUDIT_SIGNING_KEY_FILE: path.join(dir, "none.pem") })).to.deep.equal(["DSR_AUDIT_SIGNING_KEY_FILE cannot be read (ENOENT)"]);
    expect(problems({ DSR_AUDIT_SIGNING_KEY_FILE: rsa })).to.deep.equal(["DSR_AUDIT_SIGNING_KEY_FILE must be an Ed25519 key, not rsa"]);
    expect(problems({ DSR_AUDIT_SIGNING_KEY: "not a key" })[0]).to.match(/^DSR_AUDIT_SIGNING_KEY must be an Ed25519 private key in PEM/);
  });

  it("refuses Object Lock where checkpoints are not kept in S3, and a bad mode or interval", () => {
    expect(problems({ DSR_AUDIT_OBJECT_LOCK: "GOVERNANCE" })).to.deep.equal(["DSR_AUDIT_OBJECT_LOCK needs DSR_EXPORT_STORAGE=s3 (checkpoints are kept where exports are)"]);
    expect(problems({ DSR_AUDIT_OBJECT_LOCK: "forever" })).to.include("DSR_AUDIT_OBJECT_LOCK must be off, GOVERNANCE or COMPLIANCE");
    expect(problems({ DSR_AUDIT_CHECKPOINT_SECONDS: "-1" })[0]).to.match(/DSR_AUDIT_CHECKPOINT_SECONDS/);
  });
});
