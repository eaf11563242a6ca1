import { createCipheriv, createDecipheriv, DecipherGCM, randomBytes } from "node:crypto";
import { Transform, TransformCallback } from "node:stream";

/**
 * The encrypted export file (`.dsrx`), version 1. Everything is big-endian.
 *
 *   "DSRX"            4 bytes  magic
 *   version           1 byte   1
 *   wrapping          1 byte   1 = master key (AES-256-GCM), 2 = AWS KMS
 *   requestId         u16 length + UTF-8
 *   keyRef            u16 length + UTF-8   "local:<fingerprint>" or "kms:<key id>" (never key material)
 *   wrappedKey        u16 length + bytes   master key: IV(12) || ciphertext(32) || tag(16); KMS: CiphertextBlob
 *   iv                12 bytes             IV of the body
 *   body              AES-256-GCM ciphertext of the ZIP, with the whole header above as associated data
 *   tag               16 bytes             GCM authentication tag of the body
 *
 * The data key is fresh per export. Binding the header as associated data binds the request id (and the
 * wrapped key): a file moved to another request, or any flipped byte anywhere, fails authentication.
 */
export const MAGIC = Buffer.from("DSRX", "ascii");
export const FILE_VERSION = 1;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export enum KeyWrapping {
  MASTER_KEY = 1,
  KMS = 2,
}

export interface ExportHeader {
  version: number;
  wrapping: KeyWrapping;
  requestId: string;
  keyRef: string;
  wrappedKey: Buffer;
  iv: Buffer;
  /** The header's bytes: the body's associated data. */
  raw: Buffer;
}

export class ExportDecryptionError extends Error {}

function field(value: Buffer): Buffer {
  if (value.length > 0xffff) throw new Error("header field too long");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(value.length);
  return Buffer.concat([length, value]);
}

export function encodeHeader(h: Omit<ExportHeader, "raw" | "version">): Buffer {
  return Buffer.concat([
    MAGIC,
    Buffer.from([FILE_VERSION, h.wrapping]),
    field(Buffer.from(h.requestId, "utf8")),
    field(Buffer.from(h.keyRef, "utf8")),
    field(h.wrappedKey),
    h.iv,
  ]);
}

/** The header at the start of `buf`, or null while more bytes are needed. Throws on a file that is not an export. */
export function decodeHeader(buf: Buffer): ExportHeader | null {
  if (buf.length < 6) return null;
  if (!buf.subarray(0, 4).equals(MAGIC)) throw new ExportDecryptionError("not an encrypted export (bad magic)");
  if (buf[4] !== FILE_VERSION) throw new ExportDecryptionError(`unsupported export file version ${buf[4]}`);
  let at = 6;
  const next = (): Buffer | null => {
    if (buf.length < at + 2) return null;
    const n = buf.readUInt16BE(at);
    if (buf.length < at + 2 + n) return null;
    const value = buf.subarray(at + 2, at + 2 + n);
    at += 2 + n;
    return value;
  };
  const requestId = next();
  const keyRef = requestId && next();
  const wrappedKey = keyRef && next();
  if (!wrappedKey || buf.length < at + IV_BYTES) return null;
  const iv = buf.subarray(at, at + IV_BYTES);
  at += IV_BYTES;
  return { version: buf[4], wrapping: buf[5], requestId: requestId!.toString("utf8"), keyRef: keyRef!.toString("utf8"), wrappedKey: Buffer.from(wrappedKey), iv: Buffer.from(iv), raw: Buffer.from(buf.subarray(0, at)) };
}

/** Encrypts a stream into the format above: header first, ciphertext as it comes, the tag at the end. */
export function encryptStream(dataKey: Buffer, header: Omit<ExportHeader, "raw" | "version" | "iv">): Transform {
  const iv = randomBytes(IV_BYTES);
  const raw = encodeHeader({ ...header, iv });
  const cipher = createCipheriv("aes-256-gcm", dataKey, iv);
  cipher.setAAD(raw);
  let headerSent = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!headerSent) (this.push(raw), (headerSent = true));
      done(null, cipher.update(chunk));
    },
    flush(done: TransformCallback) {
      if (!headerSent) this.push(raw);
      this.push(cipher.final());
      done(null, cipher.getAuthTag());
    },
  });
}

/**
 * Decrypts the format above while streaming. The last 16 bytes are held back as the tag; plaintext is
 * released before the tag is checked, so a consumer MUST treat the output as untrusted until the stream
 * ends without error (the CLI writes to a temporary file; a download is cut off, never completed).
 */
export function decryptStream(unwrap: (header: ExportHeader) => Promise<Buffer>): Transform & { header?: ExportHeader } {
  let pending: Buffer = Buffer.alloc(0);
  let decipher: DecipherGCM | null = null;
  const stream: Transform & { header?: ExportHeader } = new Transform({
    async transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        if (!decipher) {
          const header = decodeHeader(pending);
          if (!header) return done();
          const key = await unwrap(header);
          decipher = createDecipheriv("aes-256-gcm", key, header.iv);
          decipher.setAAD(header.raw);
          stream.header = header;
          pending = pending.subarray(header.raw.length);
        }
        if (pending.length <= TAG_BYTES) return done();
        const body = pending.subarray(0, pending.length - TAG_BYTES);
        pending = Buffer.from(pending.subarray(pending.length - TAG_BYTES));
        done(null, decipher.update(body));
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!decipher || pending.length !== TAG_BYTES) throw new ExportDecryptionError("the export file is truncated");
        decipher.setAuthTag(pending);
        done(null, decipher.final());
      } catch (error) {
        done(error instanceof ExportDecryptionError ? error : new ExportDecryptionError("the export failed authentication: it was changed, truncated, or belongs to another request or key"));
      }
    },
  });
  return stream;
}

/** AES-256-GCM of a data key under the master key, bound to the request: IV || ciphertext || tag. */
export function wrapWithMasterKey(masterKey: Buffer, dataKey: Buffer, requestId: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", masterKey, iv);
  cipher.setAAD(Buffer.from(`dsr-export-key:v1:${requestId}`, "utf8"));
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
}

export function unwrapWithMasterKey(masterKey: Buffer, wrapped: Buffer, requestId: string): Buffer {
  if (wrapped.length !== IV_BYTES + KEY_BYTES + TAG_BYTES) throw new ExportDecryptionError("the wrapped data key has the wrong length");
  try {
    const decipher = createDecipheriv("aes-256-gcm", masterKey, wrapped.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(`dsr-export-key:v1:${requestId}`, "utf8"));
    decipher.setAuthTag(wrapped.subarray(IV_BYTES + KEY_BYTES));
    return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, IV_BYTES + KEY_BYTES)), decipher.final()]);
  } catch {
    throw new ExportDecryptionError("the data key cannot be unwrapped: wrong master key, or the file was changed");
  }
}
