import { ApiTokenRow } from "./apiToken.entity";
import { ExportRow } from "./export.entity";
import { AuditChainHeadRow, AuditEventRow } from "./auditEvent.entity";
import { RequestRow } from "./request.entity";
import { CollectedRecordRow, RequestIdentityRow, TaskDependencyRow, TaskRow } from "./task.entity";

export { ApiTokenRow, AuditChainHeadRow, ExportRow, AuditEventRow, CollectedRecordRow, RequestIdentityRow, RequestRow, TaskDependencyRow, TaskRow };
export type { TaskResult } from "./task.entity";
export type { StoredExternalId, StoredFieldChange } from "./request.entity";
export const ENTITIES = [RequestRow, AuditEventRow, AuditChainHeadRow, ApiTokenRow, TaskRow, TaskDependencyRow, RequestIdentityRow, CollectedRecordRow, ExportRow];
