import { ErasureConfirmation } from "../domain/tasks";

/**
 * Format tag of the certificate; a verifier refuses formats it does not know. /2 names residual
 * records, /3 the kinds of record a connector could not search for, /4 how each erasure is known, /5
 * holds extending a rule's period, /6 residue erased later by a purge (`residualErased`; `residual`
 * then names what is residual when the certificate is issued), /7 what earlier deletions keep where an
 * erasure could not look (`keptByEarlier`, confirmation NOT_REACHED), /8 when those were counted and
 * which of their exceptions are still open when the certificate is issued (`countedAt`, `stillOpen`).
 */
export const CERTIFICATE_FORMAT = "dsr-deletion-certificate/8";
/** Every format the verifier reads (/1 had no residual records, /2 no kinds not searched, /3 no confirmations, /4 no holds extending a rule's period, /5 no residue erased later, /6 no records kept by earlier deletions, /7 no time they were counted). */
export const KNOWN_CERTIFICATE_FORMATS: readonly string[] = [
  "dsr-deletion-certificate/1",
  "dsr-deletion-certificate/2",
  "dsr-deletion-certificate/3",
  "dsr-deletion-certificate/4",
  "dsr-deletion-certificate/5",
  "dsr-deletion-certificate/6",
  "dsr-deletion-certificate/7",
  CERTIFICATE_FORMAT,
];

/** What one connector erased (counts from its ERASE task's outcome). */
export interface CertifiedErasure {
  connector: string;
  /** SUCCEEDED, or SKIPPED with the reason (the connector cannot erase, or holds nothing findable). */
  status: string;
  /** Records erased. */
  records: number;
  /** Records the connector kept under retention (their sets are listed in `kept`). */
  kept: number;
  /** Of `records`, records redacted in place. */
  redacted: number;
  /** Records left holding personal data, never counted in `records` (their sets are listed in `residual`). */
  residual: number;
  note: string | null;
  /**
   * How the counts are known (ErasureConfirmation): READ_BACK, NOT_REACHED, CONNECTOR_REPORT or ATTESTED;
   * null when the task ended before the service recorded it, or was skipped. Absent before /4.
   */
  confirmation: ErasureConfirmation | null;
  /** ATTESTED: the actor who confirmed the count (`token:<id>`, `cli`); otherwise null. Absent before /4. */
  attestedBy: string | null;
  /**
   * NOT_REACHED: records earlier deletions of the person keep in the system (their open exceptions when
   * the erasure ended) that it could not look for, lacking an identity they were kept under; otherwise
   * null. Absent before /7.
   */
  keptByEarlier: CertifiedKeptByEarlier | null;
}

/** Records other deletions keep where an erasure could not look: how many, which requests and exceptions, which identity kinds it lacked. */
export interface CertifiedKeptByEarlier {
  /** As counted at countedAt. */
  records: number;
  /** ISO 8601: when the erasure counted them (null: before it was recorded). Absent before /8. */
  countedAt: string | null;
  requests: string[];
  /** Their exceptions, open at countedAt. */
  exceptions: string[];
  /** Of `exceptions`, those still open when the certificate was issued: the others closed since (purged, or superseded). Absent before /8. */
  stillOpen: string[];
  identityKinds: string[];
}

/** Records a deletion left holding personal data: which, the fields that remain, why. */
export interface CertifiedResidual {
  connector: string;
  category: string;
  recordType: string;
  records: number;
  /** The personal fields that remain (names only). */
  fields: string[];
  reason: string;
}

/** Residue a purge erased once the kept records that held it back were gone. */
export interface CertifiedResidualErased {
  connector: string;
  category: string;
  recordType: string;
  records: number;
  /** Why it had been left residual. */
  reason: string;
  /** ISO 8601. */
  erasedAt: string;
}

/** A kind of record a connector could not search for: the deletion cannot say it erased any of it. */
export interface CertifiedNotSearched {
  connector: string;
  category: string;
  recordType: string;
  reason: string;
}

/** A record set kept: until when and why (a retention exception of the request). */
export interface CertifiedRetention {
  connector: string;
  category: string;
  recordType: string;
  records: number;
  legalBasis: string;
  /** ISO 8601; null while a legal hold keeps the set (until it is released). */
  retainUntil: string | null;
  /** The legal hold that keeps the set, when a hold does. */
  holdId: string | null;
  /**
   * A legal hold placed while the rule's period runs (absent before /5): the set is kept past
   * retainUntil, until that hold is released. Null when none.
   */
  extendedByHoldId: string | null;
  /** OPEN while kept; CLOSED once purged, or erased by a later deletion of the person (its audit trail names which). */
  status: string;
}

/** The receipt a completed deletion offers. No personal data: the subject appears only as a keyed hash. */
export interface DeletionCertificateBody {
  format: string;
  requestId: string;
  /** The request whose work answered this one, when it followed an earlier duplicate; otherwise null. */
  answeredWith: string | null;
  /** `hmac-sha256:<hex>` of the subject's email under the service secret: links certificates of one subject, reveals nobody. */
  subjectReference: string;
  source: string;
  receivedAt: string;
  completedAt: string;
  issuedAt: string;
  erased: CertifiedErasure[];
  kept: CertifiedRetention[];
  /** Residual records (empty when none): never counted as erased. From /6, what is residual when the certificate is issued. */
  residual: CertifiedResidual[];
  /**
   * Records the deletion left residual only because kept records held them back, erased by id by the
   * purge that erased those (when, in `erasedAt`); absent before /6.
   */
  residualErased?: CertifiedResidualErased[];
  /** Kinds of record a connector could not search for (empty when every kind was searched; absent before /3). */
  notSearched?: CertifiedNotSearched[];
}
