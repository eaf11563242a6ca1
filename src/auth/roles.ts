import { Role } from "../domain/enums";

/**
 * Who may do what. Every query, mutation and guarded field names one of these groups with @Authorized;
 * the README's authorization matrix is generated from the same lists.
 */
export const ANY_ROLE = [Role.ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.SERVICE];
/** Read requests and the audit trail (AUDITOR is read-only). */
export const READERS = [Role.ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR];
/** Decide on requests: approve, reject, extend. */
export const DECIDERS = [Role.ADMIN, Role.PRIVACY_OFFICER];
/** Bring requests in and move them through verification. */
export const SUBMITTERS = [Role.ADMIN, Role.PRIVACY_OFFICER, Role.SERVICE];
/** See the subject's identities and the values of corrections (personal data). */
export const PERSONAL_DATA_READERS = [Role.ADMIN, Role.PRIVACY_OFFICER, Role.SERVICE];
