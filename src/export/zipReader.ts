import fs from "node:fs";
import { Readable, Transform } from "node:stream";
import zlib from "node:zlib";

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipFormatError extends Error {}

/**
 * Reads the archives this service writes, from a file (random access through the central directory).
 * A deliberately small reader for `dsr export verify` and the tests: stored and deflated entries, no
 * ZIP64 (exports are far below 4 GiB per entry), CRC-32 checked on every read.
 */
export class ZipReader {
  private constructor(
    private readonly fd: number,
    readonly entries: ZipEntry[],
  ) {}

  static open(file: string): ZipReader {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const tailSize = Math.min(size, 65_557);
      const tail = Buffer.alloc(tailSize);
      fs.readSync(fd, tail, 0, tailSize, size - tailSize);
      const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
      if (eocd < 0) throw new ZipFormatError("not a ZIP archive (no end of central directory)");
      const count = tail.readUInt16LE(eocd + 10);
      const cdSize = tail.readUInt32LE(eocd + 12);
      const cdOffset = tail.readUInt32LE(eocd + 16);
      if (count === 0xffff || cdOffset === 0xffffffff) throw new ZipFormatError("ZIP64 archives are not supported by this reader");
      const cd = Buffer.alloc(cdSize);
      fs.readSync(fd, cd, 0, cdSize, cdOffset);
      const entries: ZipEntry[] = [];
      let at = 0;
      for (let i = 0; i < count; i++) {
        if (cd.readUInt32LE(at) !== 0x02014b50) throw new ZipFormatError("corrupt central directory");
        const nameLength = cd.readUInt16LE(at + 28);
        const extraLength = cd.readUInt16LE(at + 30);
        const commentLength = cd.readUInt16LE(at + 32);
        entries.push({
          name: cd.toString("utf8", at + 46, at + 46 + nameLength),
          method: cd.readUInt16LE(at + 10),
          crc32: cd.readUInt32LE(at + 16),
          compressedSize: cd.readUInt32LE(at + 20),
          size: cd.readUInt32LE(at + 24),
          localHeaderOffset: cd.readUInt32LE(at + 42),
        });
        at += 46 + nameLength + extraLength + commentLength;
      }
      return new ZipReader(fd, entries);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** The entry's content as a stream; it errors if the CRC-32 or the size does not match the directory. */
  stream(name: string): Readable {
    const entry = this.entry(name);
    if (!entry) throw new ZipFormatError(`no ${name} in the archive`);
    const local = Buffer.alloc(30);
    fs.readSync(this.fd, local, 0, 30, entry.localHeaderOffset);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new ZipFormatError(`corrupt local header of ${name}`);
    const start = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = entry.compressedSize === 0 ? Readable.from([]) : fs.createReadStream("", { fd: this.fd, autoClose: false, start, end: start + entry.compressedSize - 1 });
    let crc = 0;
    let size = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        crc = zlib.crc32(chunk, crc);
        size += chunk.length;
        done(null, chunk);
      },
      flush(done) {
        done(crc >>> 0 === entry.crc32 && size === entry.size ? null : new ZipFormatError(`${name} is damaged (CRC or size mismatch)`));
      },
    });
    const body = entry.method === 8 ? raw.pipe(zlib.createInflateRaw()) : entry.method === 0 ? raw : null;
    if (!body) throw new ZipFormatError(`${name} uses compression method ${entry.method}`);
    raw.on("error", (e: Error) => check.destroy(e));
    body.on("error", (e: Error) => check.destroy(e));
    return body.pipe(check);
  }

  async text(name: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.stream(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
