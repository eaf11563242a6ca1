import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { makeFolder } from "../folders";

/** The service's certificate-signing key pair, and how receivers name it. */
export interface CertificateKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo PEM: what /.well-known/dsr-certificate-key.pem and certificatePublicKey publish. */
  publicKeyPem: string;
  /** `ed25519:` + the first 16 hex digits of the SHA-256 of the DER public key. */
  keyId: string;
}

/** Every JSON value in one spelling: keys sorted, no whitespace. What is signed is this text of the certificate. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export function keyIdOf(publicKey: KeyObject): string {
  return `ed25519:${createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16)}`;
}

export function keyFromPrivatePem(pem: string): CertificateKey {
  const privateKey = createPrivateKey(pem.replace(/\\n/g, "\n"));
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`the certificate key must be Ed25519, not ${privateKey.asymmetricKeyType}`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(), keyId: keyIdOf(publicKey) };
}

const resolved = new Map<string, CertificateKey>();

/**
 * The signing key: DSR_CERTIFICATE_PRIVATE_KEY when set; otherwise one generated once into
 * `<data dir>/certificate-key.pem` (mode 0600), so certificates issued before a restart still verify.
 */
export function resolveCertificateKey(config: { DSR_CERTIFICATE_PRIVATE_KEY?: string; dataDir: string }): CertificateKey {
  const source = config.DSR_CERTIFICATE_PRIVATE_KEY ?? path.join(config.dataDir, "certificate-key.pem");
  const cached = resolved.get(source);
  if (cached) return cached;
  let pem = config.DSR_CERTIFICATE_PRIVATE_KEY;
  if (pem === undefined) {
    makeFolder(config.dataDir);
    const generated = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    try {
      fs.writeFileSync(source, generated, { flag: "wx", mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    pem = fs.readFileSync(source, "utf8");
  }
  const key = keyFromPrivatePem(pem);
  resolved.set(source, key);
  return key;
}

/** A certificate and its detached Ed25519 signature over canonicalJson(certificate). */
export interface SignedDocument<T> {
  certificate: T;
  signature: { algorithm: "Ed25519"; keyId: string; publicKey: string; value: string };
}

/** The signed file: canonical JSON and a newline, so that any changed byte is a changed certificate. */
export function signDocument<T>(certificate: T, key: CertificateKey): string {
  const value = sign(null, Buffer.from(canonicalJson(certificate), "utf8"), key.privateKey).toString("hex");
  const signed: SignedDocument<T> = { certificate, signature: { algorithm: "Ed25519", keyId: key.keyId, publicKey: key.publicKeyPem, value } };
  return `${canonicalJson(signed)}\n`;
}

function publicKeyFrom(pem: string): KeyObject | null {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === "ed25519" ? key : null;
  } catch {
    return null;
  }
}

export type DocumentVerification<T> = { ok: true; certificate: T; keyId: string; pinned: boolean } | { ok: false; reason: string };

/**
 * Checks a signed file offline. With `pinnedPublicKeyPem` (the service's published key) the signature
 * must be by that key; without it, by the key the file names (integrity only: say which key it was).
 */
export function verifyDocument<T>(text: string, pinnedPublicKeyPem?: string): DocumentVerification<T> {
  let parsed: SignedDocument<T>;
  try {
    parsed = JSON.parse(text) as SignedDocument<T>;
  } catch {
    return { ok: false, reason: "the file is not JSON" };
  }
  const sig = parsed?.signature;
  if (parsed === null || typeof parsed !== "object" || typeof parsed.certificate !== "object" || typeof sig !== "object" || sig === null) {
    return { ok: false, reason: "the file is not a signed certificate (certificate and signature expected)" };
  }
  // Whitespace around the JSON (jq -r's newline, an editor's, a byte-order mark) is not part of it; inside, every byte is.
  if (text.trim() !== canonicalJson(parsed)) return { ok: false, reason: "the file was changed: it is not in the form it was issued in" };
  if (sig.algorithm !== "Ed25519" || typeof sig.value !== "string" || !/^[0-9a-f]{128}$/.test(sig.value)) {
    return { ok: false, reason: "the signature is not an Ed25519 signature" };
  }
  const embedded = publicKeyFrom(String(sig.publicKey));
  if (!embedded || embedded.export({ type: "spki", format: "pem" }).toString() !== sig.publicKey || keyIdOf(embedded) !== sig.keyId) {
    return { ok: false, reason: "the file's public key or key id was changed" };
  }
  const pinned = pinnedPublicKeyPem === undefined ? undefined : publicKeyFrom(pinnedPublicKeyPem);
  if (pinned === null) return { ok: false, reason: "the given public key is not an Ed25519 public key in PEM" };
  const publicKey = pinned ?? embedded;
  const keyId = keyIdOf(publicKey);
  if (sig.keyId !== keyId) return { ok: false, reason: `signed by key ${String(sig.keyId)}, not by the given key ${keyId}` };
  const good = verify(null, Buffer.from(canonicalJson(parsed.certificate), "utf8"), publicKey, Buffer.from(sig.value, "hex"));
  return good ? { ok: true, certificate: parsed.certificate, keyId, pinned: pinnedPublicKeyPem !== undefined } : { ok: false, reason: "the signature does not match the certificate" };
}
