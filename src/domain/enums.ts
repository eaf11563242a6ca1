/** Enum values are the same string in code, database and GraphQL (STYLE habit 10). */

export enum RequestType {
  ACCESS = "ACCESS",
  PORTABILITY = "PORTABILITY",
  DELETION = "DELETION",
  CORRECTION = "CORRECTION",
}

export enum RequestStatus {
  PENDING_VERIFICATION = "PENDING_VERIFICATION",
  PENDING_APPROVAL = "PENDING_APPROVAL",
  IN_PROGRESS = "IN_PROGRESS",
  AWAITING_INPUT = "AWAITING_INPUT",
  COMPLETED = "COMPLETED",
  FAILED = "FAILED",
  REJECTED = "REJECTED",
  CANCELLED = "CANCELLED",
}

export enum RequestSource {
  ADMIN = "ADMIN",
  SETTINGS = "SETTINGS",
  API = "API",
}

export enum Role {
  ADMIN = "ADMIN",
  PRIVACY_OFFICER = "PRIVACY_OFFICER",
  AUDITOR = "AUDITOR",
  SERVICE = "SERVICE",
}

/** How a request's subject proved who they are. */
export enum VerificationMethod {
  /** The subject entered the one-time code sent to their email. */
  CODE = "CODE",
  /** A trusted caller (authenticated session, privacy officer) vouched for the identity at submission. */
  TRUSTED_CALLER = "TRUSTED_CALLER",
  /** The subject's own authenticated session on the account settings page (requestAccountDeletion). */
  SESSION = "SESSION",
}

export const TERMINAL_STATUSES: readonly RequestStatus[] = [
  RequestStatus.COMPLETED,
  RequestStatus.FAILED,
  RequestStatus.REJECTED,
  RequestStatus.CANCELLED,
];
