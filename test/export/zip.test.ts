import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { execFileSync } from "node:child_process";
import { expect } from "chai";
import { ZipArchive } from "archiver";
import { STORE_AT_MOST, ZipWriter } from "../../src/export/zip";
import { ZipFormatError, ZipReader } from "../../src/export/zipReader";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Small entries are stored, the rest deflated; every entry reads back byte for byte, whatever its source. */
describe("ZipWriter", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-zip-test-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const text = (n: number, seed: string) => Array.from({ length: n }, (_, i) => `${seed} line ${i}, "quoted" ✅\n`).join("");
  async function* chunks(body: string, size: number): AsyncGenerator<string> {
    for (let i = 0; i < body.length; i += size) yield body.slice(i, i + size);
  }

  it("stores entries of at most STORE_AT_MOST bytes, deflates larger ones, and reads every one back with its size and sha256", async () => {
    const small = text(20, "small");
    const edge = "x".repeat(STORE_AT_MOST);
    const large = text(5_000, "large");
    const entries: Array<[string, string | AsyncIterable<string | Buffer> | Readable, string]> = [
      ["empty.txt", "", ""],
      ["small.txt", small, small],
      ["edge.txt", edge, edge],
      ["edge-plus-one.txt", `${edge}y`, `${edge}y`],
      ["large.txt", large, large],
      ["small-stream.jsonl", chunks(small, 7), small],
      ["large-stream.jsonl", chunks(large, 1000), large],
      ["large-readable.csv", Readable.from([Buffer.from(large)]), large],
    ];
    const file = path.join(dir, "out.zip");
    const out = fs.createWriteStream(file);
    const zip = new ZipWriter(out, new Date(Date.UTC(2026, 0, 2)), 1);
    for (const [name, content, expected] of entries) {
      const written = await zip.add(name, content);
      expect(written, name).to.deep.equal({ bytes: Buffer.byteLength(expected), sha256: sha256(Buffer.from(expected)) });
    }
    await zip.finish(out);
    const reader = ZipReader.open(file);
    try {
      const methods = Object.fromEntries(reader.entries.map((e) => [e.name, e.method]));
      expect(methods).to.deep.equal({
        "empty.txt": 0,
        "small.txt": 0,
        "edge.txt": 0,
        "edge-plus-one.txt": 8,
        "large.txt": 8,
        "small-stream.jsonl": 0,
        "large-stream.jsonl": 8,
        "large-readable.csv": 8,
      });
      for (const [name, , expected] of entries) expect(await reader.text(name), name).to.equal(expected);
    } finally {
      reader.close();
    }
    // And a reader that is not ours agrees (Debian's unzip, where installed).
    const unzip = ["/usr/bin/unzip"].find((p) => fs.existsSync(p));
    if (unzip) expect(execFileSync(unzip, ["-t", file], { encoding: "utf8" })).to.match(/No errors detected/);
  });

  it("reads back an entry past 4 GiB (ZIP64 sizes and offset in its extra field), byte for byte, and the entry after it", async function () {
    this.timeout(180_000);
    // A big subject's data file: JSON Lines, deflated at the export's level 1; about 4.1 GiB.
    const line = Buffer.from(`${JSON.stringify({ connector: "auth-log", type: "auth_event", id: "e-0000000001", data: { ip: "203.0.113.7", method: "totp" } })}\n`);
    const chunk = Buffer.concat(Array.from({ length: Math.floor((1 << 20) / line.length) }, () => line));
    const total = 2 ** 32 + 64 * 2 ** 20;
    const file = path.join(dir, "zip64.zip");
    const out = fs.createWriteStream(file);
    const zip = new ZipWriter(out, new Date(Date.UTC(2026, 0, 2)), 1);
    await zip.add("README.txt", "first\n");
    const big = await zip.add("data/auth_logs.jsonl", (async function* () {
      for (let n = 0; n < total; n += chunk.length) yield chunk;
    })());
    await zip.add("after.txt", "after the big one\n");
    await zip.finish(out);
    expect(big.bytes).to.be.greaterThan(2 ** 32);

    const reader = ZipReader.open(file);
    try {
      const entry = reader.entry("data/auth_logs.jsonl")!;
      expect(entry.size).to.equal(big.bytes);
      expect(entry.localHeaderOffset).to.be.below(100);
      expect(reader.entry("after.txt")!.localHeaderOffset).to.be.greaterThan(entry.localHeaderOffset + entry.compressedSize);
      const hash = createHash("sha256");
      let bytes = 0;
      for await (const c of reader.stream("data/auth_logs.jsonl")) (hash.update(c as Buffer), (bytes += (c as Buffer).length));
      expect({ bytes, sha256: hash.digest("hex") }).to.deep.equal(big);
      expect(await reader.text("after.txt")).to.equal("after the big one\n");
      expect(await reader.text("README.txt")).to.equal("first\n");
    } finally {
      reader.close();
    }
    const unzip = ["/usr/bin/unzip"].find((p) => fs.existsSync(p));
    if (unzip) expect(execFileSync(unzip, ["-l", file], { encoding: "utf8" })).to.include(String(big.bytes));
  });

  it("reads an archive whose end of central directory is in ZIP64 form, and refuses one whose ZIP64 records are damaged", async () => {
    const file = path.join(dir, "forced64.zip");
    const archive = new ZipArchive({ forceZip64: true, zlib: { level: 1 } });
    const written = new Promise<void>((resolve, reject) => archive.pipe(fs.createWriteStream(file)).on("finish", resolve).on("error", reject));
    archive.append("one\n", { name: "one.txt" });
    archive.append(Buffer.from("two ".repeat(10_000)), { name: "two.txt" });
    await archive.finalize();
    await written;
    const bytes = fs.readFileSync(file);
    const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    expect(bytes.readUInt16LE(eocd + 10), "the end of central directory defers to ZIP64").to.equal(0xffff);
    const reader = ZipReader.open(file);
    try {
      expect(reader.entries.map((e) => e.name)).to.deep.equal(["one.txt", "two.txt"]);
      expect(await reader.text("one.txt")).to.equal("one\n");
      expect(await reader.text("two.txt")).to.equal("two ".repeat(10_000));
    } finally {
      reader.close();
    }
    // A ZIP64 record that claims a directory larger than the file is refused before anything is read for it.
    const damaged = Buffer.from(bytes);
    const record = Number(damaged.readBigUInt64LE(eocd - 20 + 8));
    damaged.writeBigUInt64LE(2n ** 40n, record + 40);
    fs.writeFileSync(file, damaged);
    expect(() => ZipReader.open(file)).to.throw(ZipFormatError, /past the end of the file/);
    bytes.writeUInt32LE(0, eocd - 20);
    fs.writeFileSync(file, bytes);
    expect(() => ZipReader.open(file)).to.throw(ZipFormatError, /ZIP64 end of central directory locator/);
  });

  for (const [when, before] of [
    ["while it is still being read to see whether it is small", 2],
    ["after it turned out large", 10],
  ] as const) {
    it(`fails the entry when its source fails ${when}`, async () => {
      async function* failing(): AsyncGenerator<string> {
        for (let i = 0; i < before; i++) yield "z".repeat(4096);
        throw new Error("the staged records could not be read");
      }
      const out = fs.createWriteStream(path.join(dir, "failed.zip"));
      const zip = new ZipWriter(out, new Date(), 1);
      let error: Error | null = null;
      await zip.add("failing.txt", failing()).catch((e: Error) => (error = e));
      expect(error).to.be.an("error");
      expect(error!.message).to.equal("the staged records could not be read");
      zip.abort();
    });
  }
});
