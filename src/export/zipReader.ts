import { Readable, Transform } from "node:stream";
import zlib from "node:zlib";
import { plainFile, RandomAccessFile } from "./sealedFile";

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipFormatError extends Error {}

/** What a 32-bit field of ZIP holds when the real value is in the ZIP64 records (and 0xffff for a 16-bit count). */
const ZIP64_MAGIC = 0xffffffff;

/** An 8-byte little-endian field as a number; refused beyond 2^53 (no archive here comes near). */
function readUInt64(buf: Buffer, at: number): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError("a ZIP64 field is out of range");
  return Number(value);
}

/**
 * Where the central directory is and how many entries it has: from the end of central directory record,
 * or, when that says the values did not fit (a ZIP64 archive: more than 65,535 entries, or a directory
 * past 4 GiB), from the ZIP64 end of central directory record its locator points at.
 */
function directoryOf(file: RandomAccessFile): { count: number; cdSize: number; cdOffset: number } {
  const size = file.size;
  const tailSize = Math.min(size, 65_557);
  const tail = Buffer.alloc(tailSize);
  file.read(tail, size - tailSize);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new ZipFormatError("not a ZIP archive (no end of central directory)");
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (count !== 0xffff && cdSize !== ZIP64_MAGIC && cdOffset !== ZIP64_MAGIC) return { count, cdSize, cdOffset };
  // The ZIP64 locator is the 20 bytes right before the end of central directory record.
  if (eocd < 20 || tail.readUInt32LE(eocd - 20) !== 0x07064b50) throw new ZipFormatError("corrupt ZIP64 end of central directory locator");
  const record = Buffer.alloc(56);
  if (file.read(record, readUInt64(tail, eocd - 20 + 8)) !== 56 || record.readUInt32LE(0) !== 0x06064b50) throw new ZipFormatError("corrupt ZIP64 end of central directory");
  return { count: readUInt64(record, 32), cdSize: readUInt64(record, 40), cdOffset: readUInt64(record, 48) };
}

/**
 * An entry's sizes and local header offset: those its central directory header holds, except each that
 * is 0xffffffff, which is in the entry's ZIP64 extra field (ID 0x0001), in this order, only those.
 */
function zip64Fields(cd: Buffer, at: number, extraStart: number, extraLength: number, fields: { size: number; compressedSize: number; localHeaderOffset: number }) {
  const wanted = (["size", "compressedSize", "localHeaderOffset"] as const).filter((k) => fields[k] === ZIP64_MAGIC);
  if (!wanted.length) return fields;
  for (let x = extraStart; x + 4 <= extraStart + extraLength; ) {
    const id = cd.readUInt16LE(x);
    const length = cd.readUInt16LE(x + 2);
    if (id === 0x0001) {
      if (length < 8 * wanted.length) throw new ZipFormatError("corrupt ZIP64 extra field");
      const out = { ...fields };
      wanted.forEach((k, i) => (out[k] = readUInt64(cd, x + 4 + 8 * i)));
      return out;
    }
    x += 4 + length;
  }
  throw new ZipFormatError(`entry at ${at} of the central directory lacks its ZIP64 extra field`);
}

/**
 * Reads the archives this service writes, from a file (random access through the central directory):
 * a plain one, or a SealedFile (the PORTABILITY check's decrypted export, encrypted at rest).
 * A deliberately small reader for `dsr export verify`, the PORTABILITY check and the tests: stored and
 * deflated entries, ZIP64 included (the ZIP writer switches an entry to it past 4 GiB: a subject with
 * some 20,000,000 auth events has a data file that big), CRC-32 checked on every read.
 */
export class ZipReader {
  private constructor(
    private readonly file: RandomAccessFile,
    /** Whether close() closes the file (the reader opened it). */
    private readonly owned: boolean,
    readonly entries: ZipEntry[],
  ) {}

  /** Opens a ZIP archive: a path (opened and closed by the reader), or a file the caller keeps and closes. */
  static open(source: string | RandomAccessFile): ZipReader {
    const owned = typeof source === "string";
    const file = typeof source === "string" ? plainFile(source) : source;
    try {
      const size = file.size;
      const { count, cdSize, cdOffset } = directoryOf(file);
      // Checked before anything is allocated for it: a damaged or crafted file may claim any size.
      if (cdOffset + cdSize > size) throw new ZipFormatError("the central directory lies past the end of the file");
      const cd = Buffer.alloc(cdSize);
      if (file.read(cd, cdOffset) !== cdSize) throw new ZipFormatError("the central directory is cut short");
      const entries: ZipEntry[] = [];
      let at = 0;
      for (let i = 0; i < count; i++) {
        if (at + 46 > cd.length || cd.readUInt32LE(at) !== 0x02014b50) throw new ZipFormatError("corrupt central directory");
        const nameLength = cd.readUInt16LE(at + 28);
        const extraLength = cd.readUInt16LE(at + 30);
        const commentLength = cd.readUInt16LE(at + 32);
        const fields = zip64Fields(cd, at, at + 46 + nameLength, extraLength, {
          compressedSize: cd.readUInt32LE(at + 20),
          size: cd.readUInt32LE(at + 24),
          localHeaderOffset: cd.readUInt32LE(at + 42),
        });
        entries.push({
          name: cd.toString("utf8", at + 46, at + 46 + nameLength),
          method: cd.readUInt16LE(at + 10),
          crc32: cd.readUInt32LE(at + 16),
          ...fields,
        });
        at += 46 + nameLength + extraLength + commentLength;
      }
      return new ZipReader(file, owned, entries);
    } catch (error) {
      if (owned) file.close();
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
    this.file.read(local, entry.localHeaderOffset);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new ZipFormatError(`corrupt local header of ${name}`);
    // A reader that streams the archive (front to back) names the entry by its local header: it must say the same.
    const localName = Buffer.alloc(local.readUInt16LE(26));
    this.file.read(localName, entry.localHeaderOffset + 30);
    if (localName.toString("utf8") !== name) throw new ZipFormatError(`the local header of ${name} names another file`);
    const start = entry.localHeaderOffset + 30 + localName.length + local.readUInt16LE(28);
    const raw = entry.compressedSize === 0 ? Readable.from([]) : this.file.stream(start, start + entry.compressedSize - 1);
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
    if (this.owned) this.file.close();
  }
}
