import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { keyIdOf } from "../certificates/signing";
import { makeFolder } from "../folders";

/** The key that signs audit checkpoints. It lives in configuration or a file, never in the database. */
export interface AuditSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo PEM: what /.well-known/dsr-audit-key.pem publishes. */
  publicKeyPem: string;
  /** `ed25519:` + the first 16 hex digits of the SHA-256 of the DER public key. */
  keyId: string;
}

export interface AuditKeySettings {
  DSR_AUDIT_SIGNING_KEY?: string;
  DSR_AUDIT_SIGNING_KEY_FILE?: string;
  dataDir: string;
}

/** The file a key is generated into when none is configured (the embedded default). */
export const GENERATED_KEY_FILE = "audit-signing-key.pem";

/** Parses an Ed25519 private key in PEM (literal `\n` accepted, as env files write them); throws in words. */
export function auditKeyFromPem(pem: string): AuditSigningKey {
  const privateKey = createPrivateKey(pem.replace(/\\n/g, "\n"));
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`the audit signing key must be Ed25519, not ${privateKey.asymmetricKeyType}`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(), keyId: keyIdOf(publicKey) };
}

const resolved = new Map<string, AuditSigningKey>();

/**
 * DSR_AUDIT_SIGNING_KEY, else the file DSR_AUDIT_SIGNING_KEY_FILE, else one generated once into
 * `<data dir>/audit-signing-key.pem` (mode 0600; several processes on one host share it).
 */
export function resolveAuditKey(settings: AuditKeySettings): AuditSigningKey {
  const source = settings.DSR_AUDIT_SIGNING_KEY ?? settings.DSR_AUDIT_SIGNING_KEY_FILE ?? path.join(settings.dataDir, GENERATED_KEY_FILE);
  const cached = resolved.get(source);
  if (cached) return cached;
  let pem = settings.DSR_AUDIT_SIGNING_KEY;
  if (pem === undefined && settings.DSR_AUDIT_SIGNING_KEY_FILE === undefined) {
    makeFolder(settings.dataDir);
    const generated = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    try {
      fs.writeFileSync(source, generated, { flag: "wx", mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  pem ??= fs.readFileSync(source, "utf8");
  const key = auditKeyFromPem(pem);
  resolved.set(source, key);
  return key;
}

/** A public key in PEM for pinning a verification, or null when it is not an Ed25519 public key. */
export function publicKeyFromPem(pem: string): KeyObject | null {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === "ed25519" ? key : null;
  } catch {
    return null;
  }
}
