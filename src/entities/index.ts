import { ApiTokenRow } from "./apiToken.entity";
import { ExportRow } from "./export.entity";
import { AuditChainHeadRow, AuditEventRow } from "./auditEvent.entity";
import { RequestRow } from "./request.entity";
import { RetentionExceptionRow, RetentionExceptionStatus } from "./retentionException.entity";
import { heldCategories, LegalHoldRow, LegalHoldStatus } from "./legalHold.entity";
import { DeletionPlanItemRow, KeptBy } from "./deletionPlanItem.entity";
import { StatusCallbackRow, StatusCallbackStatus } from "./statusCallback.entity";
import { RequestIdentityRow, TaskDependencyRow, TaskRow } from "./task.entity";
import { StagedBatchRow, StagedKeyRow } from "./stagedBatch.entity";

export { DeletionPlanItemRow, heldCategories, KeptBy, LegalHoldRow, LegalHoldStatus };
export { ApiTokenRow, AuditChainHeadRow, AuditEventRow, RequestIdentityRow, StagedBatchRow, StagedKeyRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, StatusCallbackRow, StatusCallbackStatus, TaskDependencyRow, TaskRow, ExportRow };
export type { TaskResult } from "./task.entity";
export type { StoredExternalId, StoredFieldChange } from "./request.entity";
export const ENTITIES = [RequestRow, AuditEventRow, AuditChainHeadRow, ApiTokenRow, TaskRow, TaskDependencyRow, RequestIdentityRow, StagedBatchRow, StagedKeyRow, RetentionExceptionRow, LegalHoldRow, DeletionPlanItemRow, StatusCallbackRow, ExportRow];
