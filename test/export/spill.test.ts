import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readSpill, removeSpillDir, SPILL_MEMORY_BYTES, SPILL_READ_BYTES, spillDir, SpillWriter } from "../../src/export/spill";

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

describe("export spills (a category's CSV, held while its JSON is compressed)", () => {
  let dir: string;
  let made: number;
  const dirOf = () => ((made += 1), dir);
  beforeEach(() => ((dir = spillDir()), (made = 0)));
  afterEach(() => removeSpillDir(dir));

  it("keeps a small CSV in memory: no file, no folder asked for, and a copy of bytes the caller reuses", async () => {
    const spill = new SpillWriter(dirOf);
    const reused = Buffer.from("id,name\n1,Ada\n", "utf8");
    spill.write(reused);
    reused.fill(0x78);
    spill.write("2,Grace\n");
    const ref = spill.finish();
    expect(ref).to.have.property("memory");
    expect(made).to.equal(0);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
    expect(await text(readSpill(ref))).to.equal("id,name\n1,Ada\n2,Grace\n");
    expect(SPILL_MEMORY_BYTES).to.equal(1 << 20);
  });

  it("writes a CSV that outgrows memory to an encrypted file, what was held first included", async () => {
    const spill = new SpillWriter(dirOf, 64);
    const lines = Array.from({ length: 50 }, (_, i) => `${i},Ada Lovelace ${i}\n`);
    for (const line of lines) spill.write(line);
    const ref = spill.finish();
    expect(made).to.equal(1);
    const stored = fs.readFileSync(path.join(dir, "spill"));
    expect(stored.includes(Buffer.from("Ada Lovelace"))).to.equal(false);
    expect(await text(readSpill(ref))).to.equal(lines.join(""));
  });

  it("reads a large spill back in pieces of at most SPILL_READ_BYTES, whole and in order", async () => {
    const spill = new SpillWriter(dirOf);
    const written = randomBytes(3 * 1024 * 1024 + 17);
    for (let at = 0; at < written.length; at += 100_000) spill.write(written.subarray(at, at + 100_000));
    const ref = spill.finish();
    const sizes: number[] = [];
    const chunks: Buffer[] = [];
    for await (const c of readSpill(ref)) sizes.push((c as Buffer).length), chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(written)).to.equal(true);
    // The export's memory at its CSV phase follows this size (bench:subject): 1 MiB reads cost 12-25 MB more.
    expect(Math.max(...sizes)).to.be.at.most(SPILL_READ_BYTES);
    expect(SPILL_READ_BYTES).to.equal(1 << 18);
  });

  it("fails reading back a file that was changed", async () => {
    const spill = new SpillWriter(dirOf, 16);
    spill.write("0123456789abcdef0123456789abcdef\n");
    const ref = spill.finish();
    const file = path.join(dir, "spill");
    const bytes = fs.readFileSync(file);
    bytes[3] ^= 1;
    fs.writeFileSync(file, bytes);
    const failure = await text(readSpill(ref)).then(
      () => null,
      (error: Error) => error.message,
    );
    expect(failure).to.equal("the export's temporary file was changed while the export ran");
  });

  it("removes the file of a spill given up", () => {
    const spill = new SpillWriter(dirOf, 16);
    spill.write("0123456789abcdef0123456789abcdef\n");
    expect(fs.readdirSync(dir)).to.deep.equal(["spill"]);
    spill.discard();
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it("removes a spill folder off the event loop: the loop turns before the removal is done", async () => {
    const spill = new SpillWriter(dirOf, 16);
    spill.write(randomBytes(4 * 1024 * 1024).toString("hex"));
    spill.finish();
    // A turn of the loop queued before the removal starts: a removal made on this thread (rmSync) would be done first.
    let turned = false;
    setImmediate(() => (turned = true));
    await removeSpillDir(dir);
    expect(turned, "the loop turned while the folder was removed").to.equal(true);
    expect(fs.existsSync(dir)).to.equal(false);
  });
});
