import fs from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";
import { expect } from "chai";
import { ExportRow } from "../../src/entities";
import { purgeExpiredExports } from "../../src/export/purge";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { completedRequest, download, exportLink, FAST, ticketingConnector } from "./support";

const BIN = path.resolve(__dirname, "../../../bin/dsr.js");

/** Runs `dsr` as a user would, with only the given environment. */
function dsr(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "", ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describeEachDatabase("export commands and retention", (db) => {
  let t: TestService;
  let env: Record<string, string>;
  before(async () => {
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed("ada.lovelace@example.com", 3);
    t = await new TestService(db(), FAST, [account, ticketingConnector()]).start();
    env = { DSR_DATA_DIR: t.service.services.config.dataDir, DSR_LOG_LEVEL: "silent" };
  });
  after(async () => {
    await t?.stop();
  });

  const storedFile = async (requestId: string) => {
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId });
    return path.join(t.service.services.config.dataDir, "exports", row.objectKey);
  };

  it("dsr export verify checks an encrypted export with the configured key, and a downloaded ZIP without one", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const encrypted = await storedFile(id);
    const ok = await dsr(["export", "verify", encrypted, "--portability"], env);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(new RegExp(`^ok: 6 files match their sha256 \\(19 records, request ${id}\\)`));
    const out = path.join(tempDir(), "saved.zip");
    const saved = await dsr(["export", "download", (await exportLink(t, id)).url, "--out", out], {});
    expect(saved.code, saved.stderr).to.equal(0);
    const plain = await dsr(["export", "verify", out], { DSR_DATA_DIR: tempDir() });
    expect(plain.code, plain.stderr).to.equal(0);
  });

  it("dsr export decrypt writes the ZIP only when the file authenticates", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const encrypted = await storedFile(id);
    const out = path.join(tempDir(), "plain.zip");
    const good = await dsr(["export", "decrypt", encrypted, "--out", out, "--request", id], env);
    expect(good.code, good.stderr).to.equal(0);
    expect(fs.readFileSync(out).subarray(0, 2).toString()).to.equal("PK");
    const bytes = fs.readFileSync(encrypted);
    bytes[bytes.length - 100] ^= 0x80;
    const tampered = path.join(tempDir(), "tampered.dsrx");
    fs.writeFileSync(tampered, bytes);
    const bad = await dsr(["export", "decrypt", tampered, "--out", `${out}.2`], env);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^dsr: the export failed authentication/);
    expect(fs.existsSync(`${out}.2`)).to.equal(false);
    const otherKey = await dsr(["export", "verify", encrypted], { DSR_DATA_DIR: tempDir() });
    expect(otherKey.code).to.equal(1);
    expect(otherKey.stderr).to.match(/another master key/);
  });

  it("purges exports whose retention ended: file, row and link, with an audit event", async () => {
    const id = await completedRequest(t);
    const file = await storedFile(id);
    const { url } = await exportLink(t, id, 7 * 86400);
    expect(await purgeExpiredExports(t.service.services)).to.include({ exports: 0, stagedRecords: 0, surveyedRecords: 0, rosters: 0 });
    t.clock.advance(30 * 86_400_000);
    const purged = await purgeExpiredExports(t.service.services);
    expect(purged.exports).to.be.at.least(1);
    expect(fs.existsSync(file)).to.equal(false);
    expect(await t.ds.getRepository(ExportRow).countBy({ requestId: id })).to.equal(0);
    const r = (await t.ok(`query($id: ID!) { request(id: $id) { export { id } auditEvents { action } } }`, { id })).request;
    expect(r.export).to.equal(null);
    expect(r.auditEvents.map((e: any) => e.action)).to.include("export.purged");
    t.clock.advance(-30 * 86_400_000);
    expect((await download(url)).status).to.equal(404);
  });
});
