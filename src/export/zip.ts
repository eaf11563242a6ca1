import { createHash } from "node:crypto";
import { Readable, Transform, Writable } from "node:stream";
import { ZipArchive } from "archiver";
import { useNativeCrc32 } from "./crc32";

useNativeCrc32();

export interface WrittenEntry {
  bytes: number;
  sha256: string;
}

/**
 * Entries of at most this many bytes are stored, not deflated. Deflating one costs a compressor of its
 * own (its state, and an output buffer of the archive's chunk size) and round trips to zlib's thread,
 * whatever its size: measured, 8 entries of a few hundred bytes took 2.8 ms of CPU deflated and 0.34 ms
 * stored, and a small request's export is mostly such entries (README, manifest, a category or two of a
 * few records). What storing costs is at most a few KiB of archive per entry.
 */
export const STORE_AT_MOST = 16 * 1024;

/**
 * The entry's whole content when it is at most STORE_AT_MOST bytes; otherwise what was read of it
 * followed by the rest, unread (an early end of the archive still closes the source).
 */
async function headOf(content: string | AsyncIterable<string | Buffer> | Readable): Promise<{ whole: Buffer; rest: null } | { whole: null; rest: Iterable<Buffer> | AsyncIterable<Buffer> }> {
  if (typeof content === "string") {
    const whole = Buffer.from(content, "utf8");
    return whole.length <= STORE_AT_MOST ? { whole, rest: null } : { whole: null, rest: [whole] };
  }
  const iterator = content[Symbol.asyncIterator]();
  const read: Buffer[] = [];
  let size = 0;
  while (size <= STORE_AT_MOST) {
    const next = await iterator.next();
    if (next.done) return { whole: Buffer.concat(read), rest: null };
    const chunk = typeof next.value === "string" ? Buffer.from(next.value, "utf8") : (next.value as Buffer);
    read.push(chunk);
    size += chunk.length;
  }
  const remaining: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => iterator as AsyncIterator<Buffer> };
  return {
    whole: null,
    rest: (async function* () {
      yield* read;
      yield* remaining;
    })(),
  };
}

/**
 * Writes ZIP entries one after another into `out`, each from a stream that is pulled only while it is
 * being compressed, and measures every entry's size and sha256 on the way (for the manifest).
 */
export class ZipWriter {
  private readonly archive: ZipArchive;
  private failure: Error | null = null;
  private readonly failed: Promise<never>;
  /** Fails the archive: the entry being added and every later call reject with the first error. */
  private fail!: (error: Error) => void;

  constructor(
    out: Writable,
    private readonly date: Date,
    level = 6,
  ) {
    // 256 KiB of deflate output per round trip to zlib's thread (16 KiB by default): the main thread is
    // called back far less often, and the compressor waits less on it.
    this.archive = new ZipArchive({ zlib: { level, chunkSize: 256 * 1024 } });
    this.failed = new Promise<never>((_, reject) => {
      this.fail = (error) => {
        this.failure ??= error;
        reject(this.failure);
      };
    });
    this.archive.on("error", (error) => this.fail(error));
    out.on("error", (error) => this.fail(error));
    this.failed.catch(() => undefined);
    this.archive.pipe(out);
  }

  /**
   * Adds one entry and resolves once it is fully written. An entry whose whole content is at most
   * STORE_AT_MOST bytes is stored rather than deflated (see there); the others are deflated as they are
   * pulled.
   */
  async add(name: string, content: string | AsyncIterable<string | Buffer> | Readable): Promise<WrittenEntry> {
    if (this.failure) throw this.failure;
    const hash = createHash("sha256");
    let bytes = 0;
    const head = await headOf(content).catch((error: Error) => {
      this.fail(error);
      throw error;
    });
    const source =
      head.whole !== null
        ? Readable.from([head.whole])
        : // Byte mode, about a MiB ahead at most: the producer runs ahead of the compressor, memory stays bounded.
          Readable.from(head.rest, { objectMode: false, highWaterMark: 1024 * 1024 });
    const measured = new Transform({
      transform(chunk: Buffer | string, _enc, done) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
        hash.update(buf);
        bytes += buf.length;
        done(null, buf);
      },
    });
    // A source that fails (staged records that cannot be read) fails the archive: its error is the
    // entry's, never an 'error' event no one listens to, which would end the process.
    source.on("error", (error) => this.fail(error));
    measured.on("error", (error) => this.fail(error));
    const entered = new Promise<void>((resolve) => this.archive.once("entry", () => resolve()));
    this.archive.append(source.pipe(measured), { name, date: this.date, store: head.whole !== null });
    await Promise.race([entered, this.failed]);
    return { bytes, sha256: hash.digest("hex") };
  }

  /** Writes the central directory; resolves when everything has reached `out`'s writer. */
  async finish(out: Writable): Promise<void> {
    const flushed = new Promise<void>((resolve) => out.once("finish", () => resolve()));
    await Promise.race([this.archive.finalize(), this.failed]);
    await Promise.race([flushed, this.failed]);
  }

  /** Stops writing (on failure); the partial output is to be discarded. */
  abort(): void {
    this.archive.abort();
  }
}
