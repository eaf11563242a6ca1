import { Role } from "../domain/enums";

/**
 * Who may do what. Every query, mutation and guarded field names one of these groups with @Authorized;
 * the README's authorization matrix lists the same groups and test/authorization.test.ts checks both.
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
/**
 * Look requests up by a person (`requests(filter: { subjectEmail })`). AUDITOR checks the process, not
 * people: it may list and count requests, never learn whether a given person made one.
 */
export const PERSON_SEARCHERS = [Role.ADMIN, Role.PRIVACY_OFFICER];
/**
 * Roles whose tokens reach only the requests they submitted themselves. The settings page (SERVICE) acts
 * for one account holder at a time; any other request answers NOT_FOUND, word for word as an unknown id
 * does, so holding a SERVICE token does not tell which ids exist.
 */
export const OWN_REQUESTS_ONLY = [Role.SERVICE];
