import { randomUUID } from "node:crypto";
import { CollectedRecordRow, TaskRow } from "../../src/entities";
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

/** `n` staged-record rows of a claimed COLLECT task's attempt. */
export function recordRows(task: TaskRow, n: number): CollectedRecordRow[] {
  return Array.from({ length: n }, (_, i) =>
    Object.assign(new CollectedRecordRow(), {
      id: randomUUID(),
      requestId: task.requestId,
      taskId: task.id,
      attempt: task.attempts,
      connector: task.connector,
      category: "ACCOUNT",
      recordType: "row",
      recordId: String(i),
      recordedAt: null,
      payload: JSON.stringify({ n: i }),
    }),
  );
}

/** How many records a task has staged, counted in the table itself. */
export async function stagedCount(t: TestService, taskId: string): Promise<number> {
  const [row] = await t.ds.query(`SELECT COUNT(*) AS n FROM collected_records WHERE taskId = ?`, [taskId]);
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
