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

export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SKIPPED];
