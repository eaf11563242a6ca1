import { ApiTokenRow } from "./apiToken.entity";
import { ExportRow } from "./export.entity";
import { AuditCheckpointRow, AuditEventRow, AuditStreamHeadRow } from "./auditEvent.entity";
import { RequestRow } from "./request.entity";
import { RetentionExceptionRow, RetentionExceptionStatus } from "./retentionException.entity";
import { heldCategories, LegalHoldRow, LegalHoldStatus } from "./legalHold.entity";
import { DeletionPlanItemRow, KeptBy } from "./deletionPlanItem.entity";
import { StatusCallbackRow, StatusCallbackStatus } from "./statusCallback.entity";
import { ErasureFenceRow, ErasureProgressRow, ErasureUnitRow } from "./erasureFence.entity";
import { SurveyedRecordRow } from "./surveyedRecord.entity";
import { StagedBatchRow, StagedKeyRow } from "./stagedBatch.entity";
import { RequestIdentityRow, TaskDependencyRow, TaskRow } from "./task.entity";

export { DeletionPlanItemRow, ErasureFenceRow, ErasureProgressRow, ErasureUnitRow, SurveyedRecordRow, heldCategories, KeptBy, LegalHoldRow, LegalHoldStatus };
export { ApiTokenRow, AuditCheckpointRow, AuditEventRow, AuditStreamHeadRow, RequestIdentityRow, StagedBatchRow, StagedKeyRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, StatusCallbackRow, StatusCallbackStatus, TaskDependencyRow, TaskRow, ExportRow };
export type { PartialErasure, StoredResidual, TaskResult } from "./task.entity";
export type { StoredExternalId, StoredFieldChange } from "./request.entity";
export const ENTITIES = [RequestRow, AuditEventRow, AuditStreamHeadRow, AuditCheckpointRow, ApiTokenRow, TaskRow, TaskDependencyRow, RequestIdentityRow, StagedBatchRow, StagedKeyRow, RetentionExceptionRow, LegalHoldRow, DeletionPlanItemRow, SurveyedRecordRow, StatusCallbackRow, ExportRow, ErasureFenceRow, ErasureUnitRow, ErasureProgressRow];
