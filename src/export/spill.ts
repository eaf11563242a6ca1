import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";

/** Where a finished spill is and how to read it (passed from the scanning thread to the writing one). */
export interface SpillRef {
  dir: string;
  key: Uint8Array;
  iv: Uint8Array;
  tag: Uint8Array;
}

const FILE = "spill";

/**
 * A temporary file written once, then read back once, encrypted with AES-256-GCM under a key that exists
 * only in memory (personal data is encrypted at rest, temporary files included). It holds a category's
 * CSV while its JSON is compressed, so the staged records are read only once. Writes are synchronous:
 * they go to the page cache, from a page of records at a time.
 */
export class SpillWriter {
  private readonly key = randomBytes(32);
  private readonly iv = randomBytes(12);
  private readonly cipher = createCipheriv("aes-256-gcm", this.key, this.iv);
  private readonly fd: number;

  /** `dir` is the caller's (spillDir), and removed by it whatever happens here. */
  constructor(readonly dir: string) {
    this.fd = fs.openSync(path.join(dir, FILE), "w", 0o600);
  }

  write(text: string | Uint8Array): void {
    fs.writeSync(this.fd, typeof text === "string" ? this.cipher.update(text, "utf8") : this.cipher.update(text));
  }

  /** Closes the file; what it returns reads it back (readSpill). */
  finish(): SpillRef {
    fs.writeSync(this.fd, this.cipher.final());
    fs.closeSync(this.fd);
    return { dir: this.dir, key: this.key, iv: this.iv, tag: this.cipher.getAuthTag() };
  }

  /** Closes and empties the file of a spill that will not be read. */
  discard(): void {
    this.key.fill(0);
    fs.closeSync(this.fd);
    fs.rmSync(path.join(this.dir, FILE), { force: true });
  }
}

/** A private temporary folder for one category's spill. */
export function spillDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "dsr-export-spill-"));
}

/** The plaintext of a finished spill, once (the key is forgotten); fails at its end when the file was changed. */
export function readSpill(ref: SpillRef): Readable {
  const decipher = createDecipheriv("aes-256-gcm", ref.key, ref.iv).setAuthTag(ref.tag);
  ref.key.fill(0);
  const file = fs.createReadStream(path.join(ref.dir, FILE), { highWaterMark: 1 << 20 });
  const plain = new Transform({
    transform: (chunk: Buffer, _enc, done) => done(null, decipher.update(chunk)),
    flush: (done) => {
      try {
        done(null, decipher.final());
      } catch {
        done(new Error("the export's temporary file was changed while the export ran"));
      }
    },
  });
  file.on("error", (error) => plain.destroy(error));
  return file.pipe(plain);
}

/** Removes a spill folder and what is in it; nothing there is not an error. */
export function removeSpillDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
