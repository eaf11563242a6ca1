import fs from "node:fs";
import { DeletionCertificateBody, KNOWN_CERTIFICATE_FORMATS } from "./deletionCertificate";
import { verifyDocument } from "./signing";

export type FileVerification = { ok: true; line: string } | { ok: false; reason: string; unreadable?: boolean };

function read(file: string, what: string): string | { reason: string } {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    return { reason: `cannot read the ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
}

/** What `dsr certificate verify` says about a file, offline: one line, valid (signed by the given key) or why not. */
export function verifyCertificateFile(file: string, publicKeyFile?: string): FileVerification {
  const pem = publicKeyFile === undefined ? undefined : read(publicKeyFile, "public key");
  if (pem !== undefined && typeof pem !== "string") return { ok: false, unreadable: true, ...pem };
  return verifyCertificateWithKey(file, pem);
}

/** Like verifyCertificateFile, with the public key's PEM text (fetched from the service, say) instead of its file. */
export function verifyCertificateWithKey(file: string, pem: string | undefined): FileVerification {
  const text = read(file, "certificate");
  if (typeof text !== "string") return { ok: false, unreadable: true, ...text };
  const outcome = verifyDocument<DeletionCertificateBody>(text, pem);
  if (!outcome.ok) return outcome;
  // The key a file names proves only that the file was not changed since someone signed it: anyone can make
  // a key and sign a certificate of their own with it. Valid means signed by the service's key.
  if (!outcome.pinned) {
    return { ok: false, reason: `not checked against the service's key: the file is signed by key ${outcome.keyId}, which it names itself (anyone can sign a file with a key of their own); pass --public-key with the service's published key` };
  }
  const c = outcome.certificate;
  if (!KNOWN_CERTIFICATE_FORMATS.includes(c.format)) return { ok: false, reason: `unknown certificate format ${JSON.stringify(c.format)}` };
  const erased = (c.erased ?? []).reduce((n, e) => n + e.records, 0);
  const kept = (c.kept ?? []).reduce((n, k) => n + k.records, 0);
  const residual = (c.residual ?? []).reduce((n, r) => n + r.records, 0);
  const unsearched = (c.notSearched ?? []).length;
  // Records whose erasure nobody read back: the service has a connector's or a person's word for them (NOT_REACHED read back what it could reach).
  const unchecked = (c.erased ?? []).filter((e) => e.confirmation && e.confirmation !== "READ_BACK" && e.confirmation !== "NOT_REACHED" && e.records > 0);
  const taken = unchecked.length ? ` (${unchecked.map((e) => `${e.records} in ${e.connector} ${e.confirmation === "ATTESTED" ? `attested by ${e.attestedBy}` : "on the connector's report"}`).join(", ")}, not read back)` : "";
  // Records earlier deletions keep where this one could not look: its read-back says nothing of them.
  const unreached = (c.erased ?? []).filter((e) => e.keptByEarlier?.records);
  const standing = unreached.length ? `, ${unreached.map((e) => `${e.keptByEarlier!.records} kept in ${e.connector} by earlier deletion(s)${e.keptByEarlier!.requests.map((id) => ` ${id}`).join(",")}${asCounted(e.keptByEarlier!)}, not looked for (no ${e.keptByEarlier!.identityKinds.join(", ")})`).join("; ")}` : "";
  return { ok: true, line: `certificate valid: request ${c.requestId} completed ${c.completedAt}, ${erased} record(s) erased${taken}, ${kept} kept${standing}${residual ? `, ${residual} residual (still holding personal data)` : ""}${unsearched ? `, ${unsearched} kind(s) of record not searched (${c.notSearched!.map((n) => `${n.connector} ${n.recordType}`).join(", ")})` : ""}; signed by the given key ${outcome.keyId}` };
}

/** When records kept by earlier deletions were counted, and how many of their exceptions closed before the certificate was issued (/8 on). */
function asCounted(k: { countedAt?: string | null; exceptions: string[]; stillOpen?: string[] }): string {
  if (!k.countedAt) return "";
  const closed = k.stillOpen ? k.exceptions.length - k.stillOpen.length : 0;
  return ` as counted at ${k.countedAt}${closed ? ` (${closed} of their ${k.exceptions.length} exception(s) closed since: those records may be gone)` : ""}`;
}
