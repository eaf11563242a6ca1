import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { TimestampColumn } from "./columns";

/** What a finished task produced, in counts (never records or identities). */
export interface TaskResult {
  records?: number;
  erased?: number;
  identitiesFound?: string[];
  changed?: string[];
  notHeld?: string[];
  /** Records an ERASE kept under retention or a hold (their sets are retention exceptions). */
  kept?: number;
  /** Records the verification pass found after an ERASE, all of them allowed to stay. */
  remaining?: number;
}

/**
 * A durable unit of work: one connector x one step of one request. Claimed under a lease; completed or
 * failed only by the worker holding the lease (WHERE lockedBy = me).
 */
@Entity({ name: "tasks" })
@Index("uq_tasks_request_connector_step", ["requestId", "connector", "step"], { unique: true })
@Index("idx_tasks_claim", ["status", "waitingFor", "runAfter"])
export class TaskRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The request it works for. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Connector name (its spec.name). */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** RESOLVE | COLLECT | ERASE | RECTIFY | EXPORT | PURGE. */
  @Column({ type: "varchar", length: 16 })
  step!: TaskStep;

  /** Where it is; see TaskStatus. */
  @Column({ type: "varchar", length: 24 })
  status!: TaskStatus;

  /** Claimed before tasks of lower priority (requests about minors run first). */
  @Column({ type: "int", default: 0 })
  priority!: number;

  /** Tasks it waits for that have not finished; claimable only at 0. */
  @Column({ type: "int", default: 0 })
  waitingFor!: number;

  /** Attempts started so far (a crashed attempt counts). */
  @Column({ type: "int", default: 0 })
  attempts!: number;

  /** Attempts allowed before the task is FAILED. */
  @Column({ type: "int" })
  maxAttempts!: number;

  /** Not claimed before this instant (backoff, Retry-After, remote polling). */
  @TimestampColumn()
  runAfter!: Date;

  /** Worker holding the lease while RUNNING. */
  @Column({ type: "varchar", length: 100, nullable: true })
  lockedBy!: string | null;

  /** When the lease ends unless extended by a heartbeat. */
  @TimestampColumn({ nullable: true })
  leaseExpiresAt!: Date | null;

  /** Last failure in user words (ConnectorError.userMessage); never internals or personal data. */
  @Column({ type: "varchar", length: 1000, nullable: true })
  lastError!: string | null;

  /** Why the task was skipped, or what a person must do while AWAITING_INPUT. */
  @Column({ type: "varchar", length: 1000, nullable: true })
  note!: string | null;

  /** Reference of remote work being polled (REMOTE_PROCESSING). */
  @Column({ type: "varchar", length: 255, nullable: true })
  remoteReference!: string | null;

  /** Counts of what the task did. */
  @Column({ type: "simple-json", nullable: true })
  result!: TaskResult | null;

  /** Stable key for external side effects: the same for every attempt of this task. */
  @Column({ type: "varchar", length: 100 })
  idempotencyKey!: string;

  /** When it was planned. */
  @TimestampColumn()
  createdAt!: Date;

  /** When its first attempt started. */
  @TimestampColumn({ nullable: true })
  startedAt!: Date | null;

  /** When it reached SUCCEEDED, FAILED or SKIPPED. */
  @TimestampColumn({ nullable: true })
  finishedAt!: Date | null;

  /** Last change of the row. */
  @TimestampColumn()
  updatedAt!: Date;
}

/** `taskId` may run only after `dependsOnTaskId` has finished (identity order, reverse erasure order). */
@Entity({ name: "task_dependencies" })
export class TaskDependencyRow {
  /** The waiting task. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  taskId!: string;

  /** The task it waits for. */
  @Index("idx_task_dependencies_on")
  @PrimaryColumn({ type: "varchar", length: 36 })
  dependsOnTaskId!: string;
}

/** An identity of a request's subject: given with the request or discovered by a RESOLVE task. */
@Entity({ name: "request_identities" })
export class RequestIdentityRow {
  /** The request. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  requestId!: string;

  /** Identity kind (email, userId, paymentCustomerId, ...). */
  @PrimaryColumn({ type: "varchar", length: 40 })
  kind!: string;

  /** The value. Personal data: never logged, never in the audit trail. */
  @Column({ type: "varchar", length: 320 })
  value!: string;

  /** `request` or the connector that discovered it. */
  @Column({ type: "varchar", length: 40 })
  source!: string;
}
