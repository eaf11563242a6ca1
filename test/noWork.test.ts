import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { describeEachDatabase, tempDir } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status note } } }`;
const BIN = path.resolve(__dirname, "..", "..", "bin", "dsr.js");

describeEachDatabase("no work, no COMPLETED", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });
  const run = async (type: string, connectors: ScriptedConnector[], input: Record<string, unknown> = {}) => {
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" }, connectors).start();
    const r = await submit(t, { type, identityVerified: true, verificationEvidence: "test", ...input });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(now.status) ? { id: r.id, ...now } : undefined;
    }, "request ended");
  };

  it("fails a deletion that no connector can erase, with the reason, and offers no certificate", async () => {
    const done = await run("DELETION", [new ScriptedConnector({ name: "reader", supports: ["access"] }).seed("ada.lovelace@example.com", 2)]);
    expect(done.status).to.equal("FAILED");
    expect(done.statusReason).to.match(/^No connector could erase the subject's data: reader skipped \(/);
    const certificate = await t.gql(`query($id: ID!) { deletionCertificate(requestId: $id) { requestId } }`, { id: done.id });
    expect(certificate.errors?.[0].extensions.code).to.be.oneOf(["CONFLICT", "NOT_FOUND"]);
  });

  it("fails an access request when every connector was skipped (an identity nobody provides)", async () => {
    const done = await run("ACCESS", [new ScriptedConnector({ name: "payments", needs: ["paymentCustomerId"], categories: ["PAYMENTS"] })]);
    expect(done.status).to.equal("FAILED");
    expect(done.statusReason).to.equal("No connector could collect the subject's data: payments skipped (payments needs paymentCustomerId, which the request does not carry and no connector provides)");
  });

  it("fails a deletion at once when the installation has no connector at all", async () => {
    const done = await run("DELETION", []);
    expect(done).to.include({ status: "FAILED", statusReason: "No connector in this installation can erase the subject's data: nothing was done (add connectors that support erasure)" });
    expect(done.tasks).to.deep.equal([]);
  });

  it("fails a correction at once when the installation has no connector at all", async () => {
    const done = await run("CORRECTION", [], { corrections: [{ field: "name", value: "Augusta Ada King" }] });
    expect(done).to.include({ status: "FAILED", statusReason: "No connector in this installation can correct the subject's data: nothing was done (add connectors that support rectification)" });
    expect(done.tasks).to.deep.equal([]);
  });

  it("still completes when one connector did its step and another was skipped", async () => {
    const done = await run("DELETION", [new ScriptedConnector({ name: "reader", supports: ["access"] }), new ScriptedConnector({ name: "eraser", categories: ["SUPPORT"] })]);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
  });
});

describe("production without connectors", () => {
  it("refuses to start, exit 78, saying which setting to give", () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: "production", DSR_DATA_DIR: path.join(tempDir(), "data"), DSR_SECRET: randomBytes(24).toString("hex"), DSR_AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
    Object.assign(env, { DSR_NOTIFIER: "webhook", DSR_NOTIFIER_URL: "http://127.0.0.1:9/notify", DSR_NOTIFIER_SECRET: "s".repeat(32), DSR_EXPORT_MASTER_KEY: randomBytes(32).toString("base64"), PORT: "0", DSR_PUBLIC_URL: "https://dsr.example.com" });
    const result = spawnSync(process.execPath, [BIN, "serve"], { env, encoding: "utf8", timeout: 30_000 });
    expect(result.status, result.stderr).to.equal(78);
    expect(result.stderr).to.match(/DSR_CONNECTORS_FILE is required with NODE_ENV=production: set it to the connectors file/);
    expect(result.stdout).to.equal("");
  });
});
