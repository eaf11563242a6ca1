import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { execFileSync } from "node:child_process";
import { expect } from "chai";
import { STORE_AT_MOST, ZipWriter } from "../../src/export/zip";
import { ZipReader } from "../../src/export/zipReader";

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
