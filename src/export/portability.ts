import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExportTools } from "./context";
import { decryptToFile } from "./decrypt";
import { verifyArchive } from "./verify";

/**
 * The PORTABILITY check of a stored export: read it back, decrypt it, and check that every file matches
 * its checksum and every JSON file parses and matches the documented fields. Returns the problems.
 */
export async function checkStoredPortability(tools: ExportTools, objectKey: string, requestId: string): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-portability-"));
  try {
    const zip = path.join(dir, "export.zip");
    await decryptToFile(tools.keys, await tools.storage.get(objectKey), zip, requestId);
    return (await verifyArchive(zip, { portability: true })).problems;
  } finally {
    // Off the event loop: the decrypted archive of a big subject is hundreds of MB to unlink.
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
