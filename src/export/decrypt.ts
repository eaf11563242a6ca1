import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { decryptStream, ExportDecryptionError, ExportHeader } from "./crypto";
import type { DataKeys } from "./keys";
import { writeOutFile } from "../outFile";
import { SealedFile } from "./sealedFile";

/** The decrypting stream of a stored export: it refuses a file of another request than `expectedRequestId`. */
function decryptingFor(keys: DataKeys, expectedRequestId?: string) {
  return decryptStream(async (header) => {
    if (expectedRequestId && header.requestId !== expectedRequestId) throw new ExportDecryptionError("the export belongs to another request");
    return keys.unwrap(header);
  });
}

/**
 * Decrypts a stored export into `outFile`. The plaintext goes to a temporary file (mode 0600) that
 * becomes `outFile` only once the authentication tag checked out: a changed byte never leaves a file
 * behind. `expectedRequestId` refuses a file that belongs to another request. Without `replace`, an
 * existing `outFile` is refused (BAD_USER_INPUT) rather than replaced (the CLI's `--out` without `--force`).
 */
export async function decryptToFile(keys: DataKeys, source: Readable, outFile: string, expectedRequestId?: string, replace = true): Promise<ExportHeader> {
  const decrypt = decryptingFor(keys, expectedRequestId);
  return writeOutFile(outFile, replace, async (part) => {
    await pipeline(source, decrypt, part);
    return decrypt.header!;
  });
}

/**
 * Decrypts a stored export into a SealedFile at `file` (the service's own checks: the plaintext never
 * rests on disk unencrypted, Invariant 7). Returned once the authentication tag checked out; on any
 * failure the file is closed and removed. The caller closes and removes it after reading.
 */
export async function decryptToSealedFile(keys: DataKeys, source: Readable, file: string, expectedRequestId: string): Promise<SealedFile> {
  const sealed = SealedFile.create(file);
  try {
    await pipeline(source, decryptingFor(keys, expectedRequestId), sealed.writer());
    return sealed;
  } catch (error) {
    sealed.close();
    await fs.promises.rm(file, { force: true });
    throw error;
  }
}
