import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import { Readable, Transform, Writable } from "node:stream";

const BLOCK = 16;

/**
 * Random-access reads of a file: what the ZIP reader needs (its central directory is at the end, its
 * entries anywhere). A plain file, or a sealed one (SealedFile).
 */
export interface RandomAccessFile {
  readonly size: number;
  /** Fills `buffer` from `position`; returns the bytes read (fewer at the end of the file). */
  read(buffer: Buffer, position: number): number;
  /** The bytes from `start` to `end` inclusive, as a stream. */
  stream(start: number, end: number): Readable;
  close(): void;
}

/** A file on disk read as it is. */
export function plainFile(file: string): RandomAccessFile {
  const fd = fs.openSync(file, "r");
  return {
    size: fs.fstatSync(fd).size,
    read: (buffer, position) => fs.readSync(fd, buffer, 0, buffer.length, position),
    stream: (start, end) => fs.createReadStream("", { fd, autoClose: false, start, end }),
    close: () => fs.closeSync(fd),
  };
}

/** The AES-CTR counter block `blocks` blocks after `iv` (a 128-bit big-endian counter, wrapping). */
function counterAt(iv: Buffer, blocks: number): Buffer {
  const value = (BigInt(`0x${iv.toString("hex")}`) + BigInt(blocks)) % (1n << 128n);
  return Buffer.from(value.toString(16).padStart(32, "0"), "hex");
}

/**
 * A temporary file that holds plaintext personal data (a decrypted export being checked) only
 * encrypted: AES-256-CTR under a key that exists only in this object (Invariant 7: a process killed
 * while it held the file leaves nothing readable behind). CTR, not GCM, because it is read at random
 * positions; its integrity is not its job (what was written into it was authenticated before it was
 * trusted, and the ZIP reader checks every entry's CRC-32).
 */
export class SealedFile implements RandomAccessFile {
  private readonly key = randomBytes(32);
  private readonly iv = randomBytes(16);
  private fd: number | null = null;
  private written = 0;

  private constructor(readonly path: string) {}

  /** Opens `path` (created, owner only) for writing; write it with `writer()`, then read it. */
  static create(path: string): SealedFile {
    const sealed = new SealedFile(path);
    sealed.fd = fs.openSync(path, "wx+", 0o600);
    return sealed;
  }

  get size(): number {
    return this.written;
  }

  /** A stream that encrypts what is written to it into the file. */
  writer(): Writable {
    const cipher = createCipheriv("aes-256-ctr", this.key, this.iv);
    const fd = this.fd!;
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        const sealed = cipher.update(chunk);
        fs.write(fd, sealed, 0, sealed.length, this.written, (error) => done(error ?? null));
        this.written += sealed.length;
      },
      final: (done) => {
        const rest = cipher.final();
        if (!rest.length) return done();
        fs.write(fd, rest, 0, rest.length, this.written, (error) => done(error ?? null));
        this.written += rest.length;
      },
    });
  }

  read(buffer: Buffer, position: number): number {
    const start = Math.floor(position / BLOCK) * BLOCK;
    const sealed = Buffer.alloc(position - start + buffer.length);
    const got = fs.readSync(this.fd!, sealed, 0, sealed.length, start);
    const plain = createDecipheriv("aes-256-ctr", this.key, counterAt(this.iv, start / BLOCK)).update(sealed.subarray(0, got));
    return plain.copy(buffer, 0, position - start);
  }

  stream(start: number, end: number): Readable {
    const from = Math.floor(start / BLOCK) * BLOCK;
    const decipher = createDecipheriv("aes-256-ctr", this.key, counterAt(this.iv, from / BLOCK));
    let skip = start - from;
    const plain = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const out = decipher.update(chunk);
        // The first block's bytes before `start` were read only to decrypt from a block's edge.
        const drop = Math.min(skip, out.length);
        skip -= drop;
        done(null, out.subarray(drop));
      },
    });
    const raw = fs.createReadStream("", { fd: this.fd!, autoClose: false, start: from, end });
    raw.on("error", (error) => plain.destroy(error));
    return raw.pipe(plain);
  }

  /** Closes the file and forgets the key (the file is unreadable from then on; remove it too). */
  close(): void {
    this.key.fill(0);
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
