import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";

/**
 * A temporary file written once, then read back once, encrypted with AES-256-GCM under a key that exists
 * only in this object (personal data is encrypted at rest, temporary files included). It holds a
 * category's CSV while its JSON is being compressed, so the staged records are read only once; a
 * changed byte fails the read at its end, before the archive can be finished.
 */
export class EncryptedSpill {
  private readonly key = randomBytes(32);
  private readonly iv = randomBytes(12);
  private readonly cipher = createCipheriv("aes-256-gcm", this.key, this.iv);
  private tag: Buffer | null = null;
  bytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly handle: fs.promises.FileHandle,
  ) {}

  static async create(): Promise<EncryptedSpill> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "dsr-export-spill-"));
    try {
      return new EncryptedSpill(dir, await fs.promises.open(path.join(dir, "spill"), "w+", 0o600));
    } catch (error) {
      await fs.promises.rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async write(text: string): Promise<void> {
    if (this.tag) throw new Error("the spill was already read back");
    const plain = Buffer.from(text, "utf8");
    this.bytes += plain.length;
    await this.handle.write(this.cipher.update(plain));
  }

  /** The plaintext, once; fails at its end when the file was changed. */
  read(): Readable {
    if (this.tag) throw new Error("the spill was already read back");
    const rest = this.cipher.final();
    this.tag = this.cipher.getAuthTag();
    const decipher = createDecipheriv("aes-256-gcm", this.key, this.iv).setAuthTag(this.tag);
    const writeRest = rest.length ? this.handle.write(rest) : Promise.resolve();
    const file = Readable.from(
      (async function* (handle: fs.promises.FileHandle) {
        await writeRest;
        // 1 MiB reads from the start (the handle's position is past the end after the writes).
        for (let at = 0; ; ) {
          const buf = Buffer.allocUnsafe(1 << 20);
          const { bytesRead } = await handle.read(buf, 0, buf.length, at);
          if (!bytesRead) return;
          at += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      })(this.handle),
      { objectMode: false, highWaterMark: 1 << 20 },
    );
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

  /** Removes the file and forgets the key; safe to call more than once. */
  async dispose(): Promise<void> {
    this.key.fill(0);
    await this.handle.close().catch(() => undefined);
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}
