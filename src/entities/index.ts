import { ApiTokenRow } from "./apiToken.entity";
import { AuditChainHeadRow, AuditEventRow } from "./auditEvent.entity";
import { RequestRow } from "./request.entity";

export { ApiTokenRow, AuditChainHeadRow, AuditEventRow, RequestRow };
export type { StoredExternalId, StoredFieldChange } from "./request.entity";
export const ENTITIES = [RequestRow, AuditEventRow, AuditChainHeadRow, ApiTokenRow];
