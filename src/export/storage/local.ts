import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ExportNotStoredError, ExportStorage, StorageProblem } from "./storage";
import { makeFolder } from "../../folders";

/**
 * Exports in a local folder (DSR_DATA_DIR/exports by default). A write goes to a temporary file that is
 * fsynced and renamed into place, so a reader never sees half an export and a crash leaves only a `.part`.
 */
export class LocalExportStorage implements ExportStorage {
  readonly kind = "local" as const;

  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error("export key escapes the storage folder");
    return full;
  }

  async put(key: string, body: Readable): Promise<void> {
    const file = this.pathOf(key);
    makeFolder(path.dirname(file), 0o700);
    const part = `${file}.${process.pid}.part`;
    try {
      await pipeline(body, fs.createWriteStream(part, { mode: 0o600 }));
      const handle = await fs.promises.open(part, "r");
      await handle.sync().finally(() => handle.close());
      await fs.promises.rename(part, file);
    } catch (error) {
      await fs.promises.rm(part, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      const handle = await fs.promises.open(file, "r");
      return handle.createReadStream();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new ExportNotStoredError(key);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.pathOf(key), { force: true });
  }

  /**
   * Writes, syncs and removes a small file in the folder, as `put` would: permissions alone say little
   * (root passes them), while a folder that became a file, a read-only or full disk fail here as they
   * would fail the next export. `timeoutMs` bounds a disk that hangs.
   */
  async unusable(timeoutMs = 10_000): Promise<StorageProblem | null> {
    const probe = path.join(this.root, `.ready.${process.pid}.${randomUUID()}`);
    const attempt = (async () => {
      makeFolder(this.root, 0o700);
      const handle = await fs.promises.open(probe, "wx", 0o600);
      try {
        await handle.writeFile("ready");
        await handle.sync();
      } finally {
        await handle.close();
        await fs.promises.rm(probe, { force: true });
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
    try {
      const outcome = await Promise.race([attempt, late]);
      if (outcome === "late") return { setting: "DSR_DATA_DIR", configuration: false, reason: `the export folder ${this.root} did not take a write within ${Math.round(timeoutMs / 1000)} s` };
      return null;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      return { setting: "DSR_DATA_DIR", configuration: false, reason: `the export folder ${this.root} cannot be written (${e.code ?? e.message})` };
    } finally {
      clearTimeout(timer);
      attempt.catch(() => undefined);
    }
  }
}
