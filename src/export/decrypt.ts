import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { decryptStream, ExportDecryptionError, ExportHeader } from "./crypto";
import type { DataKeys } from "./keys";
import { writeOutFile } from "../outFile";

/**
 * Decrypts a stored export into `outFile`. The plaintext goes to a temporary file (mode 0600) that
 * becomes `outFile` only once the authentication tag checked out: a changed byte never leaves a file
 * behind. `expectedRequestId` refuses a file that belongs to another request. Without `replace`, an
 * existing `outFile` is refused (BAD_USER_INPUT) rather than replaced (the CLI's `--out` without `--force`).
 */
export async function decryptToFile(keys: DataKeys, source: Readable, outFile: string, expectedRequestId?: string, replace = true): Promise<ExportHeader> {
  const decrypt = decryptStream(async (header) => {
    if (expectedRequestId && header.requestId !== expectedRequestId) throw new ExportDecryptionError("the export belongs to another request");
    return keys.unwrap(header);
  });
  // A part left by a failure may be big (the service's PORTABILITY check runs this): removed off the event loop.
  return writeOutFile(outFile, replace, async (part) => {
    await pipeline(source, decrypt, part);
    return decrypt.header!;
  });
}
