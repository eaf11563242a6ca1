import { createHash, KeyObject, sign, verify } from "node:crypto";
import { canonicalJson, keyIdOf } from "../certificates/signing";
import type { AuditSigningKey } from "./signingKey";

export const CHECKPOINT_FORMAT = "dsr-audit-checkpoint/1";

/** What one checkpoint seals of one stream: the events after `fromSeq - 1` up to `seq`, by their end hashes. */
export interface StreamSeal {
  stream: string;
  /** First event sealed here (the one after the stream's previous seal). */
  fromSeq: number;
  /** Hash of the event before fromSeq, as the previous seal signed it (64 zeros from the start). */
  fromHash: string;
  /** Last event sealed here: the stream's head when the checkpoint was made. */
  seq: number;
  hash: string;
}

/**
 * A signed checkpoint, like a CloudTrail digest file: every stream head written since the previous
 * checkpoint, linked to that checkpoint by the SHA-256 of its file, so a removed or replaced checkpoint
 * breaks the list and a chain recomputed in the database no longer ends at the signed hashes.
 */
export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  number: number;
  previous: { number: number; sha256: string } | null;
  sealedAt: string;
  events: number;
  streams: StreamSeal[];
}

interface SignedCheckpoint {
  checkpoint: Checkpoint;
  signature: { algorithm: "Ed25519"; keyId: string; value: string };
}

/** The file: canonical JSON and a newline, so its SHA-256 (what the next checkpoint links to) is fixed. */
export function signCheckpoint(checkpoint: Checkpoint, key: AuditSigningKey): string {
  const value = sign(null, Buffer.from(canonicalJson(checkpoint), "utf8"), key.privateKey).toString("hex");
  const signed: SignedCheckpoint = { checkpoint, signature: { algorithm: "Ed25519", keyId: key.keyId, value } };
  return `${canonicalJson(signed)}\n`;
}

export function sha256Of(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export type CheckpointReading = { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string };

/** Checks one stored file against the service's public key: a signed checkpoint, unchanged, with this number. */
export function readCheckpoint(text: string, number: number, publicKey: KeyObject): CheckpointReading {
  let parsed: SignedCheckpoint;
  try {
    parsed = JSON.parse(text) as SignedCheckpoint;
  } catch {
    return { ok: false, reason: "it is not JSON any more" };
  }
  const sig = parsed?.signature;
  if (typeof parsed?.checkpoint !== "object" || parsed.checkpoint === null || typeof sig !== "object" || sig === null || typeof sig.value !== "string") {
    return { ok: false, reason: "it is not a signed checkpoint" };
  }
  if (sig.keyId !== keyIdOf(publicKey)) return { ok: false, reason: `it is signed by key ${String(sig.keyId)}, not by the service's key ${keyIdOf(publicKey)}` };
  const good = /^[0-9a-f]{128}$/.test(sig.value) && verify(null, Buffer.from(canonicalJson(parsed.checkpoint), "utf8"), publicKey, Buffer.from(sig.value, "hex"));
  if (!good) return { ok: false, reason: "its signature does not match its content (it was altered)" };
  if (text !== `${canonicalJson(parsed)}\n`) return { ok: false, reason: "the file was rewritten (same content, different bytes)" };
  const c = parsed.checkpoint;
  if (c.format !== CHECKPOINT_FORMAT || c.number !== number) return { ok: false, reason: `it is stored as checkpoint ${number} but is checkpoint ${String(c.number)}` };
  return { ok: true, checkpoint: c };
}

/** What a verification that found the trail intact up to a checkpoint signs (the checkpoint's number and file hash, and when). */
const markBytes = (number: number, sha256: string, at: Date) =>
  Buffer.from(canonicalJson({ format: "dsr-audit-verified/1", number, sha256, verifiedAt: at.toISOString() }), "utf8");

/** The signature of a verification's mark (hex), under the audit key: only a process holding the key can say where verifications may start. */
export function signVerifiedMark(number: number, sha256: string, at: Date, key: AuditSigningKey): string {
  return sign(null, markBytes(number, sha256, at), key.privateKey).toString("hex");
}

/** Whether a checkpoint row's mark of an intact verification was signed by the key (and not written into the database by someone else). */
export function verifiedMarkHolds(row: { number: number; sha256: string; verifiedAt: Date | null; verifiedSignature: string | null }, publicKey: KeyObject): boolean {
  if (!row.verifiedAt || !row.verifiedSignature || !/^[0-9a-f]{128}$/.test(row.verifiedSignature)) return false;
  return verify(null, markBytes(row.number, row.sha256, row.verifiedAt), publicKey, Buffer.from(row.verifiedSignature, "hex"));
}
