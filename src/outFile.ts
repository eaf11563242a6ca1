import fs from "node:fs";
import { badField } from "./errors";

/** What a file named by `--out` exists as, said without repeating the path (the caller typed it). */
const EXISTS = "--out names a file that already exists; nothing was written. Pass --force to replace it, or choose another name";

/**
 * Refuses, before any work, an `--out` that exists unless `force`: a download is audited and a roster
 * lists people, so neither should be fetched only to be refused at the end, nor silently replace a file.
 */
export function refuseExistingOut(out: string, force: boolean | undefined): void {
  if (!force && fs.existsSync(out)) throw badField("--out", EXISTS);
}

/**
 * Gives the finished `part` its name `out`. With `replace` it takes the place of whatever is there;
 * without, an existing `out` is never replaced, also one that appeared while `part` was written (a hard
 * link fails on an existing name, atomically), and the refusal is BAD_USER_INPUT.
 */
export async function placeFile(part: string, out: string, replace: boolean): Promise<void> {
  if (replace) return fs.promises.rename(part, out);
  try {
    await fs.promises.link(part, out);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw badField("--out", EXISTS);
    throw error;
  }
  await fs.promises.rm(part, { force: true });
}

/** Why a part file could not be created, in words for --out, when the reason is the place it names. */
const UNWRITABLE: Record<string, string> = {
  ENOENT: "--out names a folder that does not exist; nothing was fetched or written",
  ENOTDIR: "--out names a folder that does not exist; nothing was fetched or written",
  EACCES: "--out names a place this user may not write to; nothing was fetched or written",
  EPERM: "--out names a place this user may not write to; nothing was fetched or written",
  EROFS: "--out names a read-only file system; nothing was fetched or written",
};

/**
 * Writes a file for `--out` as `fill` writes it into a temporary `<out>.<pid>.part` (created new, mode
 * 0600: exports and rosters hold personal data), then places it (placeFile). The part is created before
 * `fill` runs, so a place that cannot be written is refused (BAD_USER_INPUT) before anything is fetched:
 * a download is audited, and one nobody could save must not be recorded as delivered. The part is
 * removed however it ends, so a download cut off midway leaves no partial plain text behind.
 */
export async function writeOutFile<T>(out: string, force: boolean | undefined, fill: (part: fs.WriteStream) => Promise<T>): Promise<T> {
  refuseExistingOut(out, force);
  const part = `${out}.${process.pid}.part`;
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(part, "wx", 0o600);
  } catch (error) {
    const why = UNWRITABLE[(error as NodeJS.ErrnoException).code ?? ""];
    throw why ? badField("--out", why) : error;
  }
  try {
    const result = await fill(handle.createWriteStream());
    await placeFile(part, out, !!force);
    return result;
  } finally {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(part, { force: true });
  }
}
