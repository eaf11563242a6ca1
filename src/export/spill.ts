import { CipherGCM, createCipheriv, createDecipheriv, type Decipher, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { privateTempDir } from "../tempDirs";

/** Where a finished spill is and how to read it (passed from the scanning thread to the writing one). */
export type SpillRef =
  /** Small enough to have stayed in memory (see SpillWriter). */
  | { memory: Uint8Array[] }
  /** In an encrypted file. */
  | { dir: string; key: Uint8Array; iv: Uint8Array; tag: Uint8Array };

const FILE = "spill";

/** How much of a spill file one read takes (see readSpill). */
export const SPILL_READ_BYTES = 1 << 18;

/**
 * Bytes a spill holds in memory before it goes to a file: a small category's CSV (the usual request's)
 * then costs no temporary folder or file, nor the system calls around them (about 4% of a worker's CPU
 * in bench/orchestrator, profiled), and a large one holds at most this much before it is written out.
 */
export const SPILL_MEMORY_BYTES = 1 << 20;

/**
 * A category's CSV written once, then read back once. Up to `memoryBytes` it stays in memory; past
 * that, it goes to a temporary file in the folder `dirOf()` gives (made then, on first use), encrypted
 * with AES-256-GCM under a key that exists only in memory (personal data is encrypted at rest,
 * temporary files included). It holds the CSV while the category's JSON is compressed, so the staged
 * records are read only once. File writes are synchronous: they go to the page cache, a page of
 * records at a time.
 */
export class SpillWriter {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private file: { fd: number; dir: string; key: Buffer; iv: Buffer; cipher: CipherGCM } | null = null;

  constructor(
    private readonly dirOf: () => string,
    private readonly memoryBytes = SPILL_MEMORY_BYTES,
  ) {}

  write(text: string | Uint8Array): void {
    if (this.file) return this.encrypt(this.file, text);
    // Copied: a caller may reuse the bytes it passed (CsvTranscoder.take does).
    const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : Buffer.from(text);
    if (this.heldBytes + bytes.length <= this.memoryBytes) {
      this.held.push(bytes);
      this.heldBytes += bytes.length;
      return;
    }
    const dir = this.dirOf();
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const file = (this.file = { fd: fs.openSync(path.join(dir, FILE), "w", 0o600), dir, key, iv, cipher: createCipheriv("aes-256-gcm", key, iv) });
    for (const held of this.held) this.encrypt(file, held);
    this.held = [];
    this.encrypt(file, bytes);
  }

  private encrypt(file: NonNullable<SpillWriter["file"]>, bytes: string | Uint8Array): void {
    fs.writeSync(file.fd, typeof bytes === "string" ? file.cipher.update(bytes, "utf8") : file.cipher.update(bytes));
  }

  /** Ends the spill; what it returns reads it back (readSpill). */
  finish(): SpillRef {
    const file = this.file;
    if (!file) return { memory: this.held };
    fs.writeSync(file.fd, file.cipher.final());
    fs.closeSync(file.fd);
    // Finished: a discard after this has nothing to close (the reader owns the file now).
    this.file = null;
    return { dir: file.dir, key: file.key, iv: file.iv, tag: file.cipher.getAuthTag() };
  }

  /** Forgets a spill that will not be read (and removes its file); after `finish`, nothing to do. */
  discard(): void {
    this.held = [];
    const file = this.file;
    if (!file) return;
    file.key.fill(0);
    fs.closeSync(file.fd);
    fs.rmSync(path.join(file.dir, FILE), { force: true });
  }
}

/** A private temporary folder for one category's spill. */
export function spillDir(): string {
  return privateTempDir("spill");
}

/** The plaintext of a finished spill, once (the key is forgotten); fails at its end when the file was changed. */
export function readSpill(ref: SpillRef): Readable {
  if ("memory" in ref) return Readable.from(ref.memory.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)), { objectMode: false });
  const decipher = createDecipheriv("aes-256-gcm", ref.key, ref.iv).setAuthTag(ref.tag);
  ref.key.fill(0);
  return Readable.from(decrypted(path.join(ref.dir, FILE), decipher), { objectMode: false });
}

/**
 * A spill file's plaintext, SPILL_READ_BYTES at a time, read into one buffer that every read reuses:
 * the decipher copies what it is given, so only its output is new. A read stream makes a buffer per
 * read, garbage as soon as it is deciphered, and a long CSV's reads outran the collector: bench:subject's
 * RSS grew through the CSV phase with the size of the CSV (see README, Benchmarks).
 */
async function* decrypted(file: string, decipher: Decipher): AsyncGenerator<Buffer> {
  const handle = await fs.promises.open(file, "r");
  try {
    const buffer = Buffer.allocUnsafeSlow(SPILL_READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, SPILL_READ_BYTES, null);
      if (bytesRead === 0) break;
      yield decipher.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  let last: Buffer;
  try {
    last = decipher.final();
  } catch {
    throw new Error("the export's temporary file was changed while the export ran");
  }
  if (last.length) yield last;
}

/**
 * Removes a spill folder and what is in it; nothing there is not an error. Off the event loop (libuv's
 * pool): unlinking a big spill frees its blocks as it goes, and a 6,000,000-event subject's CSV spill
 * held the loop 55 ms that way (more at 20,000,000: bench/subject's loop max was 473 ms).
 */
export async function removeSpillDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
}
