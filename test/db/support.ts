import { randomUUID } from "node:crypto";
import { DataSource } from "typeorm";
import { StagedBatchRow, TaskRow } from "../../src/entities";
import { guardedBatchInsert } from "../../src/orchestrator/sql/stageRecords";
import { Stopped } from "../../src/orchestrator/stopping";
import { submit, TestService } from "../support/harness";

/** Submits and approves `n` access requests (distinct subjects) and returns their runnable COLLECT tasks. */
export async function runnableCollects(t: TestService, n: number): Promise<TaskRow[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await submit(t, { identityVerified: true, verificationEvidence: "test", subject: { email: `person${i}-${randomUUID().slice(0, 6)}@example.com` } });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    ids.push(r.id);
  }
  const tasks = await t.ds.getRepository(TaskRow).findBy({ step: "COLLECT" as TaskRow["step"] });
  return tasks.filter((x) => ids.includes(x.requestId));
}

/** Staged batches holding `n` records of a claimed COLLECT task's attempt (50 a batch; the payload is opaque here). */
export function recordRows(task: TaskRow, n: number): StagedBatchRow[] {
  return Array.from({ length: Math.ceil(n / 50) }, (_, i) =>
    Object.assign(new StagedBatchRow(), {
      id: randomUUID(),
      requestId: task.requestId,
      taskId: task.id,
      attempt: task.attempts,
      connector: task.connector,
      category: "ACCOUNT",
      seq: i,
      records: Math.min(50, n - i * 50),
      payload: Buffer.from(`batch ${i}`),
      createdAt: new Date(),
    }),
  );
}

/** Stages batches through the runner's guarded path; false when the claim no longer holds the task. */
export async function stageRecordChunk(ds: DataSource, task: TaskRow, workerId: string, rows: readonly StagedBatchRow[]): Promise<boolean> {
  const insert = guardedBatchInsert(ds, task, workerId);
  try {
    for (const row of rows) await insert(row);
    return true;
  } catch (error) {
    if (error instanceof Stopped) return false;
    throw error;
  }
}

/** How many records a task has staged, counted in the table itself. */
export async function stagedCount(t: TestService, taskId: string): Promise<number> {
  const [row] = await t.ds.query(`SELECT COALESCE(SUM(records), 0) AS n FROM staged_batches WHERE taskId = ?`, [taskId]);
  return Number(row.n);
}

/** A promise with its resolve handle. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Leaves no task runnable (so the next test's claim takes its own). */
export async function parkEverything(t: TestService): Promise<void> {
  await t.ds.query(`UPDATE tasks SET status = 'SKIPPED', lockedBy = NULL WHERE status IN ('PENDING', 'REMOTE_PROCESSING', 'RUNNING')`);
}
