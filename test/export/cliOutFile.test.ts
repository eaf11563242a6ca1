import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ExportRow } from "../../src/entities";
import { purgeExpiredExports } from "../../src/export/purge";
import { dsr } from "../support/cliBinary";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, completedRequest, exportLink, FAST, ticketingConnector } from "./support";

/** `dsr ... --out <file>`: the files the CLI writes for an operator (exports, rosters and certificates alike go through src/outFile.ts). */
describeEachDatabase("dsr export download / decrypt --out", (db) => {
  let t: TestService;
  before(async () => {
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA_EMAIL, 3);
    t = await new TestService(db(), FAST, [account, ticketingConnector()]).start();
  });
  after(async () => {
    await t?.stop();
  });

  const downloads = async (id: string): Promise<number> =>
    (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id })).auditEvents.filter((e: { action: string }) => e.action === "export.downloaded").length;
  const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

  it("refuses an --out file that exists (exit 2, the file untouched, the link unused) and replaces it only with --force, mode 0600", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id);
    const dir = tempDir();
    const out = path.join(dir, "kept.zip");
    fs.writeFileSync(out, "an operator's own file");
    const refused = await dsr(["export", "download", url, "--out", out]);
    expect(refused.code, refused.stderr).to.equal(2);
    expect(refused.stderr).to.equal("dsr: --out names a file that already exists; nothing was written. Pass --force to replace it, or choose another name\n");
    expect(fs.readFileSync(out, "utf8")).to.equal("an operator's own file");
    expect(await downloads(id)).to.equal(0);
    const forced = await dsr(["export", "download", url, "--out", out, "--force"]);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(fs.readFileSync(out).subarray(0, 2).toString()).to.equal("PK");
    expect(mode(out)).to.equal("600");
    const fresh = path.join(dir, "fresh.zip");
    const saved = await dsr(["export", "download", url, "--out", fresh]);
    expect(saved.code, saved.stderr).to.equal(0);
    expect(mode(fresh)).to.equal("600");
    expect(fs.readdirSync(dir).sort()).to.deep.equal(["fresh.zip", "kept.zip"]);
    expect(await downloads(id)).to.equal(2);
  });

  it("leaves nothing behind, not even a partial file, when the download is cut off midway (exit 1)", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId: id });
    const stored = path.join(t.service.services.config.dataDir, "exports", row.objectKey);
    const bytes = fs.readFileSync(stored);
    bytes[bytes.length - 20] ^= 0x01; // the service finds out at the end, after it sent the rest, and cuts the connection
    fs.writeFileSync(stored, bytes);
    const dir = tempDir();
    const cut = await dsr(["export", "download", (await exportLink(t, id)).url, "--out", path.join(dir, "export.zip")]);
    expect(cut.code, cut.stderr).to.equal(1);
    expect(cut.stderr.split("\n").filter(Boolean)).to.have.length(1);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it("refuses an --out in a folder that does not exist before it uses the link (exit 2, no download audited)", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id);
    const r = await dsr(["export", "download", url, "--out", path.join(tempDir(), "no-such-folder", "export.zip")]);
    expect(await downloads(id)).to.equal(0);
    expect([r.code, r.stderr]).to.deep.equal([2, "dsr: --out names a folder that does not exist; nothing was fetched or written\n"]);
  });

  it("exits 4 for a link whose export was purged and 2 for a tampered or expired one, writing nothing", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id, 7 * 86_400);
    const dir = tempDir();
    const out = path.join(dir, "export.zip");
    const tampered = await dsr(["export", "download", url.replace(/signature=([0-9a-f])/, (_, c) => `signature=${c === "0" ? "1" : "0"}`), "--out", out]);
    expect([tampered.code, tampered.stderr]).to.deep.equal([2, "dsr: download refused (403): This download link is not valid\n"]);
    t.clock.advance(8 * 86_400_000);
    const expired = await dsr(["export", "download", url, "--out", out]);
    expect(expired.code, expired.stderr).to.equal(2);
    t.clock.advance(-8 * 86_400_000);
    t.clock.advance(31 * 86_400_000);
    expect((await purgeExpiredExports(t.service.services)).exports).to.be.at.least(1);
    t.clock.advance(-31 * 86_400_000);
    const gone = await dsr(["export", "download", url, "--out", out]);
    expect([gone.code, gone.stderr]).to.deep.equal([4, "dsr: download refused (404): This export no longer exists (it was replaced or its retention ended)\n"]);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it("dsr export decrypt refuses an --out file that exists unless --force", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId: id });
    const stored = path.join(t.service.services.config.dataDir, "exports", row.objectKey);
    const env = { DSR_DATA_DIR: t.service.services.config.dataDir, DSR_LOG_LEVEL: "silent" };
    const out = path.join(tempDir(), "plain.zip");
    fs.writeFileSync(out, "keep me");
    const refused = await dsr(["export", "decrypt", stored, "--out", out], env);
    expect(refused.code, refused.stderr).to.equal(2);
    expect(fs.readFileSync(out, "utf8")).to.equal("keep me");
    const forced = await dsr(["export", "decrypt", stored, "--out", out, "--force"], env);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(fs.readFileSync(out).subarray(0, 2).toString()).to.equal("PK");
    expect(mode(out)).to.equal("600");
  });
});
