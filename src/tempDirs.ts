import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * The service's temporary folders: an export's spills, a roster's join, the PORTABILITY check's sealed
 * archive. What they hold is encrypted under keys that live only in the process's memory, and each is
 * removed when its work ends; but a process killed meanwhile (a deploy, the OOM killer) cannot remove
 * its own, and a roster of millions leaves hundreds of MB. Each folder's name says which host and
 * process made it, so a worker starting on the same host removes those of processes that no longer run
 * (removeOrphanTempDirs): unreadable without their keys, they only fill the disk.
 */
const NAME = /^dsr-tmp-([a-z]+)-([0-9a-f]{8})-(\d+)-[A-Za-z0-9]{6}$/;

/** This host, as it appears in the folders' names (a hash: host names may hold any character). */
const HOST = createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);

/** A new private folder (0700) in the system's temporary folder, for `purpose` (lower-case letters). */
export function privateTempDir(purpose: "roster" | "spill" | "portability"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `dsr-tmp-${purpose}-${HOST}-${process.pid}-`));
}

/** Whether a process with this id runs on this host (one we may not signal still runs). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary folders that processes of this host which no longer run left behind; those of
 * other hosts (a shared folder) and of running processes are left alone. Returns the folders removed.
 */
export async function removeOrphanTempDirs(dir = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
    const match = NAME.exec(name);
    if (!match || match[2] !== HOST) continue;
    const pid = Number(match[3]);
    if (pid === process.pid || running(pid)) continue;
    await fs.promises.rm(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
