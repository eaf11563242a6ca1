import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { ExportDecryptionError } from "../../src/export/crypto";
import { exportTools } from "../../src/export/context";
import { decryptToFile, decryptToSealedFile } from "../../src/export/decrypt";
import { ExportRow } from "../../src/entities";
import { checkStoredPortability } from "../../src/export/portability";
import { verifyArchive } from "../../src/export/verify";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { completedRequest, download, exportLink, FAST, ticketingConnector } from "./support";

describeEachDatabase("export delivery", (db) => {
  let t: TestService;
  before(async () => {
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed("ada.lovelace@example.com", 5);
    t = await new TestService(db(), FAST, [account, ticketingConnector()]).start();
  });
  after(async () => {
    await t?.stop();
  });

  const stored = async (requestId: string) => {
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId });
    const file = path.join(t.service.services.config.dataDir, "exports", row.objectKey);
    return { row, file };
  };

  it("stores only ciphertext: no record value appears in the stored file", async () => {
    const id = await completedRequest(t);
    const { file } = await stored(id);
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(0, 4).toString()).to.equal("DSRX");
    for (const needle of ["manifest.json", "Printer on fire", "row 1", "PK\u0003\u0004"]) expect(bytes.includes(Buffer.from(needle))).to.equal(false, needle);
  });

  it("fails decryption on a single flipped byte anywhere, and leaves no plaintext behind", async () => {
    const id = await completedRequest(t);
    const { file } = await stored(id);
    const { keys } = exportTools(t.service.services);
    const out = path.join(tempDir(), "plain.zip");
    await decryptToFile(keys, fs.createReadStream(file), out, id);
    expect((await verifyArchive(out)).ok).to.equal(true);
    const original = fs.readFileSync(file);
    for (const at of [5, 20, Math.floor(original.length / 2), original.length - 1]) {
      const changed = Buffer.from(original);
      changed[at] ^= 0x01;
      const target = path.join(tempDir(), "tampered.zip");
      let error: unknown;
      try {
        await decryptToFile(keys, Readable.from([changed]), target, id);
      } catch (e) {
        error = e;
      }
      expect(error, `byte ${at}`).to.be.instanceOf(ExportDecryptionError);
      expect(fs.existsSync(target), `byte ${at}`).to.equal(false);
    }
  });

  it("checks an export from a sealed temporary file: no plaintext on disk, the same archive read back, a tampered one refused", async () => {
    const id = await completedRequest(t);
    const { file } = await stored(id);
    const { keys } = exportTools(t.service.services);
    const plainZip = path.join(tempDir(), "plain.zip");
    await decryptToFile(keys, fs.createReadStream(file), plainZip, id);
    const plain = fs.readFileSync(plainZip);
    const dir = tempDir();
    const sealedPath = path.join(dir, "export.zip.sealed");
    const sealed = await decryptToSealedFile(keys, fs.createReadStream(file), sealedPath, id);
    try {
      // What rests on disk is ciphertext: no file name, no record value, no ZIP signature.
      const onDisk = fs.readFileSync(sealedPath);
      expect(onDisk.length).to.equal(plain.length);
      for (const needle of ["manifest.json", "Printer on fire", "row 1", "PK\u0003\u0004", "PK\u0001\u0002"]) expect(onDisk.includes(Buffer.from(needle)), needle).to.equal(false);
      // Random reads and ranges, at block edges and between them, give the archive's own bytes.
      for (const [at, length] of [[0, 1], [15, 2], [16, 16], [17, 100], [plain.length - 22, 22], [plain.length - 1, 5], [Math.floor(plain.length / 3), 4097]]) {
        const got = Buffer.alloc(length);
        const n = sealed.read(got, at);
        expect(got.subarray(0, n).equals(plain.subarray(at, at + length)), `read at ${at}`).to.equal(true);
        const chunks: Buffer[] = [];
        for await (const c of sealed.stream(at, Math.min(at + length, plain.length) - 1)) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).equals(plain.subarray(at, at + length)), `stream at ${at}`).to.equal(true);
      }
      const [fromSealed, fromPlain] = [await verifyArchive(sealed, { portability: true }), await verifyArchive(plainZip, { portability: true })];
      expect(fromSealed.problems).to.deep.equal([]);
      expect([fromSealed.ok, fromSealed.checked]).to.deep.equal([true, fromPlain.checked]);
    } finally {
      sealed.close();
    }
    // A flipped byte: refused, and no sealed file left.
    const changed = fs.readFileSync(file);
    changed[Math.floor(changed.length / 2)] ^= 0x01;
    const target = path.join(dir, "tampered.sealed");
    let error: unknown;
    try {
      await decryptToSealedFile(keys, Readable.from([changed]), target, id);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ExportDecryptionError);
    expect(fs.existsSync(target)).to.equal(false);
  });

  it("the service's own portability check leaves no plaintext in the temporary folder while it reads an export", async () => {
    const id = await completedRequest(t);
    const { row, file } = await stored(id);
    const tools = exportTools(t.service.services);
    const bytes = fs.readFileSync(file);
    // The stored export arrives all but its last bytes, then waits while the temporary folder is read.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let delivered!: () => void;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    async function* slow() {
      yield bytes.subarray(0, bytes.length - 64);
      delivered();
      await held;
      yield bytes.subarray(bytes.length - 64);
    }
    const tmp = tempDir();
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const check = checkStoredPortability({ ...tools, storage: { ...tools.storage, get: async () => Readable.from(slow()) } }, row.objectKey, id);
      await arrived;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const files = fs.readdirSync(tmp, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      expect(files.length, "the check's temporary file").to.equal(1);
      const onDisk = fs.readFileSync(path.join(files[0].parentPath, files[0].name));
      expect(onDisk.length).to.be.greaterThan(1000);
      for (const needle of ["manifest.json", "Printer on fire", "PK\u0003\u0004"]) expect(onDisk.includes(Buffer.from(needle)), needle).to.equal(false);
      release();
      expect(await check).to.deep.equal([]);
      expect(fs.readdirSync(tmp), "removed after").to.deep.equal([]);
    } finally {
      release();
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });

  it("refuses a file under another request's id (the request id is bound as associated data)", async () => {
    const a = await completedRequest(t);
    const b = await completedRequest(t);
    const { keys } = exportTools(t.service.services);
    const fileA = (await stored(a)).file;
    let error: unknown;
    try {
      await decryptToFile(keys, fs.createReadStream(fileA), path.join(tempDir(), "x.zip"), b);
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.match(/another request/);
    // Rewriting the request id inside the header breaks authentication, even with a matching length.
    const bytes = fs.readFileSync(fileA);
    const at = bytes.indexOf(Buffer.from(a));
    Buffer.from(b).copy(bytes, at);
    error = undefined;
    try {
      await decryptToFile(keys, Readable.from([bytes]), path.join(tempDir(), "y.zip"), b);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ExportDecryptionError);
  });

  it("refuses a tampered link (403) and an expired one (410), and audits only real downloads", async () => {
    const id = await completedRequest(t);
    const { url, expiresAt } = await exportLink(t, id, 3600);
    expect(Date.parse(expiresAt) - t.clock.now().getTime()).to.equal(3600_000);
    const tampered = [
      url.replace(/signature=([0-9a-f])/, (_, c) => `signature=${c === "0" ? "1" : "0"}`),
      url.replace(/expires=(\d+)/, (_, e) => `expires=${Number(e) + 3600}`),
      url.replace(/exports\/[0-9a-f-]+/, "exports/00000000-0000-4000-8000-000000000000"),
      url.replace(/&signature=.*/, ""),
    ];
    for (const bad of tampered) expect((await download(bad)).status, bad).to.equal(403);
    expect((await download(url)).status).to.equal(200);
    t.clock.advance(3600_000);
    const expired = await download(url);
    expect(expired.status).to.equal(410);
    expect(JSON.parse(expired.body.toString()).error.message).to.match(/expired/);
    const downloads = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id })).auditEvents.filter((e: any) => e.action === "export.downloaded");
    expect(downloads).to.have.length(1);
  });

  it("caps links at 7 days and refuses a request without an export", async () => {
    const id = await completedRequest(t);
    const tooLong = await t.gql(`mutation($id: ID!) { createExportLink(requestId: $id, ttl: 604801) { url } }`, { id });
    expect(tooLong.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
    const week = await exportLink(t, id, 604_800);
    expect(Date.parse(week.expiresAt) - t.clock.now().getTime()).to.equal(604_800_000);
    const deletion = (await t.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, { input: { type: "DELETION", subject: { email: "ada.lovelace@example.com" }, identityVerified: true, verificationEvidence: "test" } })).submitRequest;
    const none = await t.gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id: deletion.id });
    expect(none.errors![0].extensions.code).to.equal("CONFLICT");
    const unknown = await t.gql(`mutation { createExportLink(requestId: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc") { url } }`);
    expect(unknown.errors![0].extensions.code).to.equal("NOT_FOUND");
  });

  it("passes the portability check for a PORTABILITY request: every JSON file parses and matches the documented fields", async () => {
    const id = await completedRequest(t, "PORTABILITY");
    const first = await stored(id);
    const got = await download((await exportLink(t, id)).url);
    const result = await verifyArchive(got.file!, { portability: true });
    expect(result.problems).to.deep.equal([]);
    expect(result.manifest!.request.type).to.equal("PORTABILITY");
    expect(first.row.records).to.equal(5 + 16);
  });
});
