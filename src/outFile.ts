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

/**
 * Writes a file for `--out` as `fill` writes it into a temporary `<out>.<pid>.part` (created new, mode
 * 0600: exports and rosters hold personal data), then places it (placeFile). The part is removed however
 * it ends, so a download cut off midway leaves no partial plain text behind.
 */
export async function writeOutFile<T>(out: string, force: boolean | undefined, fill: (part: fs.WriteStream) => Promise<T>): Promise<T> {
  refuseExistingOut(out, force);
  const part = `${out}.${process.pid}.part`;
  try {
    const result = await fill(fs.createWriteStream(part, { flags: "wx", mode: 0o600 }));
    await placeFile(part, out, !!force);
    return result;
  } finally {
    await fs.promises.rm(part, { force: true });
  }
}
