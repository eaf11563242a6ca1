/** The auth-log connector: one contract over DynamoDB (production) and a SQL table (embedded default). */
import { createAuthLogConnector } from "./authLogConnector";

export { AUTH_LOG_VERSION, createAuthLogConnector } from "./authLogConnector";
export type { AuthLogConnector } from "./authLogConnector";
export { AUTH_EVENT_FIELDS, AUTH_EVENT_TYPE, eventKey, recordedAtOfKey } from "./events";
export type { AuthEvent, AuthEventField } from "./events";
export { authLogOptionProblems, DEFAULT_NAME, DEFAULT_SQL_TABLE } from "./options";
export type { AuthLogCommonOptions, AuthLogOptions, DynamoAuthLogOptions, SqlAuthLogOptions } from "./options";
export { FIELD_COLUMNS, KEY_COLUMN, USER_COLUMN } from "./sqlStore";

/** The connectors file's entry point (`{"type": "module", "module": ".../authLog/index.js"}`). */
export const createConnector = createAuthLogConnector;
