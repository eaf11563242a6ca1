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
 * Writes ZIP entries one after another into `out`, each from a stream that is pulled only while it is
 * being compressed, and measures every entry's size and sha256 on the way (for the manifest).
 */
export class ZipWriter {
  private readonly archive: ZipArchive;
  private failure: Error | null = null;
  private readonly failed: Promise<never>;

  constructor(
    out: Writable,
    private readonly date: Date,
    level = 6,
  ) {
    // 256 KiB of deflate output per round trip to zlib's thread (16 KiB by default): the main thread is
    // called back far less often, and the compressor waits less on it.
    this.archive = new ZipArchive({ zlib: { level, chunkSize: 256 * 1024 } });
    this.failed = new Promise<never>((_, reject) => {
      this.archive.on("error", (error) => reject((this.failure = error)));
      out.on("error", (error) => reject((this.failure = error)));
    });
    this.failed.catch(() => undefined);
    this.archive.pipe(out);
  }

  /** Adds one entry and resolves once it is fully written. */
  async add(name: string, content: string | AsyncIterable<string | Buffer> | Readable): Promise<WrittenEntry> {
    if (this.failure) throw this.failure;
    const hash = createHash("sha256");
    let bytes = 0;
    const source =
      typeof content === "string"
        ? Readable.from([Buffer.from(content, "utf8")])
        : content instanceof Readable
          ? content
          : // Byte mode, about a MiB ahead at most: the producer runs ahead of the compressor, memory stays bounded.
            Readable.from(content, { objectMode: false, highWaterMark: 1024 * 1024 });
    const measured = new Transform({
      transform(chunk: Buffer | string, _enc, done) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
        hash.update(buf);
        bytes += buf.length;
        done(null, buf);
      },
    });
    source.on("error", (error) => measured.destroy(error));
    const entered = new Promise<void>((resolve) => this.archive.once("entry", () => resolve()));
    this.archive.append(source.pipe(measured), { name, date: this.date });
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
