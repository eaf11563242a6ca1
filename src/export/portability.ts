import fs from "node:fs";
import path from "node:path";
import type { ExportTools } from "./context";
import { privateTempDir } from "../tempDirs";
import { decryptToSealedFile } from "./decrypt";
import { verifyArchive } from "./verify";

/**
 * The PORTABILITY check of a stored export: read it back, decrypt it, and check that every file matches
 * its checksum and every JSON file parses and matches the documented fields. Returns the problems.
 * The decrypted archive is read at random positions (its directory is at its end), so it goes to a
 * temporary file: a SealedFile, encrypted under a key only this call holds, never the plaintext.
 */
export async function checkStoredPortability(tools: ExportTools, objectKey: string, requestId: string): Promise<string[]> {
  const dir = privateTempDir("portability");
  try {
    const zip = await decryptToSealedFile(tools.keys, await tools.storage.get(objectKey), path.join(dir, "export.zip.sealed"), requestId);
    try {
      return (await verifyArchive(zip, { portability: true })).problems;
    } finally {
      zip.close();
    }
  } finally {
    // Off the event loop: the archive of a big subject is hundreds of MB to unlink.
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
