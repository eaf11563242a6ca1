import { createHash } from "node:crypto";
import { CertificateKey, signDocument, verifyDocument } from "../certificates/signing";

/** The archive entry that vouches for manifest.json: a signed document naming the manifest's SHA-256. */
export const SIGNATURE_FILE = "signature.json";
/** What signature.json signs, and in which format. */
const SIGNATURE_FORMAT = "dsr-export-signature/1";

interface ExportSignatureBody {
  format: typeof SIGNATURE_FORMAT;
  requestId: string;
  /** SHA-256 of manifest.json's bytes, as stored in the archive; the manifest holds every other file's. */
  manifestSha256: string;
}

const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");

/**
 * signature.json for an archive: the service's Ed25519 signature (the certificates' key, published at
 * /.well-known/dsr-certificate-key.pem) of the manifest's SHA-256. The manifest lists every other file
 * with its SHA-256, so the signature covers the whole archive: whoever holds it can show what the
 * service handed over, and that nobody changed it since.
 */
export function signManifest(manifestText: string, requestId: string, key: CertificateKey): string {
  const body: ExportSignatureBody = { format: SIGNATURE_FORMAT, requestId, manifestSha256: sha256(manifestText) };
  return signDocument(body, key);
}

export type SignatureCheck = { ok: true; keyId: string } | { ok: false; problem: string };

/** Checks signature.json's text against manifest.json's bytes and the service's published public key. */
export function checkManifestSignature(signatureText: string, manifest: Buffer, requestId: string, publicKeyPem: string): SignatureCheck {
  const outcome = verifyDocument<ExportSignatureBody>(signatureText, publicKeyPem);
  if (!outcome.ok) return { ok: false, problem: `${SIGNATURE_FILE}: ${outcome.reason}` };
  const body = outcome.certificate;
  if (body.format !== SIGNATURE_FORMAT) return { ok: false, problem: `${SIGNATURE_FILE}: unknown signature format ${JSON.stringify(body.format)}` };
  if (body.requestId !== requestId) return { ok: false, problem: `${SIGNATURE_FILE}: signs the export of another request` };
  if (body.manifestSha256 !== sha256(manifest)) return { ok: false, problem: `manifest.json: changed since the service signed it (its SHA-256 is not the one ${SIGNATURE_FILE} signs)` };
  return { ok: true, keyId: outcome.keyId };
}
