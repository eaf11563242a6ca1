/** One connector x one step of one request. Values are the same in code, database and GraphQL. */
export enum TaskStep {
  RESOLVE = "RESOLVE",
  COLLECT = "COLLECT",
  ERASE = "ERASE",
  RECTIFY = "RECTIFY",
  EXPORT = "EXPORT",
  PURGE = "PURGE",
}

export enum TaskStatus {
  PENDING = "PENDING",
  RUNNING = "RUNNING",
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  SKIPPED = "SKIPPED",
  AWAITING_INPUT = "AWAITING_INPUT",
  REMOTE_PROCESSING = "REMOTE_PROCESSING",
}

/**
 * How an erasure's counts are known, for the people who rely on them (the certificate says it per
 * connector): READ_BACK, the service read the system again after erasing and found only what is kept
 * or named residual; CONNECTOR_REPORT, the connector's own report (it cannot list the person's records,
 * so nothing was read back); ATTESTED, a person confirmed the count (a manual connector's task);
 * NOT_REACHED, read back as READ_BACK is, but without an identity another deletion of the person kept
 * records there under: those records stand, unseen (TaskResult.keptByEarlier).
 */
export enum ErasureConfirmation {
  READ_BACK = "READ_BACK",
  CONNECTOR_REPORT = "CONNECTOR_REPORT",
  ATTESTED = "ATTESTED",
  NOT_REACHED = "NOT_REACHED",
}

export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SKIPPED];
