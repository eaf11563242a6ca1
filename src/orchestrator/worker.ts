import { clockSkewProblem } from "../db/clockSkew";
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Services } from "../services";
import { BackoffPolicy } from "./backoff";
import { purgeExpiredExports, PURGE_INTERVAL_MS } from "../export/purge";
import { ConnectorRegistry } from "./registry";
import { ClaimedSubjects, runTask } from "./runner";
import { claimBatch, ClaimStatus, runnableStatuses } from "./sql/claimTask";
import { returnTask } from "./sql/returnTask";
import type { HandOff } from "./sql/completeTask";
import { TaskRow } from "../entities";
import { resetExpiredLeases } from "./sql/resetExpiredLeases";
import { schedulePurges } from "./sql/schedulePurges";
import { closeUndecidedRequests, closeUnverifiedRequests } from "./unverifiedRequests";
import { failUncompletedManualTasks } from "./uncompletedManualTasks";

/**
 * At most this many tasks per claim: a worker with free slots fills them a batch at a time, which keeps
 * the claim's transaction short and leaves work for the other workers sharing the database.
 */
export const CLAIM_BATCH = 8;

export interface WorkerOptions {
  /** Tasks run at once by this worker. */
  concurrency: number;
  leaseMs: number;
  /** Wait between claims when nothing is runnable. */
  pollIntervalMs: number;
  /** How often this worker also sweeps expired leases (any worker may; it is idempotent). */
  sweepIntervalMs: number;
  taskTimeoutMs: number;
  backoff: BackoffPolicy;
  /** How long stop() waits for running tasks to hand themselves back. */
  stopGraceMs: number;
  /** Attempts a PURGE task it schedules gets. */
  maxAttempts: number;
}

/**
 * Claims and runs tasks until stopped. Any number of workers, in any number of processes, can share one
 * database: claims never collide, and a crashed worker's tasks come back through the sweeper.
 */
export class Worker {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private stopping = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;
  /** Set by wake(): there may be work (a task ended, a request was approved), so claim without asking first. */
  private woken = false;

  constructor(
    private readonly services: Services,
    private readonly registry: ConnectorRegistry,
    private readonly options: WorkerOptions,
  ) {}

  /**
   * Takes the task its own completions release (a request's EXPORT after its COLLECTs), claimed in the
   * completion's transaction: the request goes on without a claim in between. Only while fewer than
   * half its slots stay taken once the finishing tasks leave (one, with one or two slots): a busier
   * worker claims again the moment its tasks end, CLAIM_BATCH tasks a claim, and the hand-off's own
   * update and read then cost more CPU than they save (bench:orchestrator, SQLite in-process: 79
   * against 82 requests/s with hand-offs at any load, 82-86 against 82-84 with this bound). A worker
   * that is stopping hands the task straight back.
   */
  private readonly handOff: HandOff = {
    workerId: this.id,
    leaseMs: this.options.leaseMs,
    now: () => this.services.clock.now(),
    wants: (finishing) => !this.stopping && !clockSkewProblem(this.services.ds) && this.running.size - finishing < Math.max(1, this.options.concurrency / 2),
    take: (task) => {
      const log = this.services.logger.child({ worker: this.id });
      if (this.stopping) void returnTask(this.services.ds, task, this.id, this.services.clock.now()).catch((error) => log.error({ err: error, taskId: task.id }, "could not hand back a task; the sweeper will take it back"));
      else this.launch(task, log, new Map());
    },
  };

  start(): void {
    this.loop ??= this.run();
  }

  /** Claim now instead of at the next poll (after an approval in this process). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  get busy(): number {
    return this.running.size;
  }

  private async run(): Promise<void> {
    const log = this.services.logger.child({ worker: this.id });
    let lastSweep = -Infinity;
    let lastPurge = -Infinity;
    let idleMs = this.options.pollIntervalMs;
    // The last claim saw nothing runnable beyond what it took (claimBatch's `more`): ask cheaply
    // (runnableStatuses, one statement, no transaction) before opening another claim's transaction (four
    // statements when it comes back empty), which then reads only the statuses it found. Also when woken:
    // a finished task wakes the worker, and what it released is mostly handed off already (completeTask),
    // so the claim would find nothing.
    let idle = false;
    while (!this.stopping) {
      try {
        // A clock too far from the database's (db/clockSkew.ts): claim nothing, and decide nothing by
        // this host's time (which kept records are due for their purge, what is past its grace), until it is back.
        const skewed = clockSkewProblem(this.services.ds) !== null;
        if (performance.now() - lastSweep >= this.options.sweepIntervalMs) {
          lastSweep = performance.now();
          const reset = await resetExpiredLeases(this.services.ds, this.services.clock.now());
          if (reset) log.warn({ reset }, "expired leases taken back");
          const purges = skewed ? 0 : await schedulePurges(this.services.ds, this.services.clock.now(), this.options.maxAttempts);
          if (purges) log.info({ purges }, "purges scheduled for kept records whose time has come");
          const unverified = skewed ? 0 : await closeUnverifiedRequests(this.services, this.services.clock.now());
          if (unverified) log.info({ requests: unverified }, "requests closed unverified at their due date");
          const undecided = skewed ? 0 : await closeUndecidedRequests(this.services, this.services.clock.now());
          if (undecided) log.warn({ requests: undecided }, "verified requests nobody decided closed, DSR_UNDECIDED_GRACE_DAYS after their due date");
          const lapsed = skewed ? 0 : await failUncompletedManualTasks(this.services, this.services.clock.now());
          if (lapsed) log.warn({ tasks: lapsed }, "manual tasks nobody completed failed, DSR_MANUAL_TASK_GRACE_DAYS after their request's due date");
        }
        if (!skewed && performance.now() - lastPurge >= PURGE_INTERVAL_MS) {
          lastPurge = performance.now();
          await purgeExpiredExports(this.services).catch((error) => log.error({ err: error }, "export retention purge failed"));
        }
        const free = skewed ? 0 : this.options.concurrency - this.running.size;
        this.woken = false;
        const statuses: readonly ClaimStatus[] | undefined = free > 0 && idle ? await runnableStatuses(this.services.ds, this.services.clock.now()) : undefined;
        if (free > 0 && (!statuses || statuses.length)) {
          const { tasks, more } = await claimBatch(this.services.ds, this.id, this.services.clock.now(), this.options.leaseMs, Math.min(free, CLAIM_BATCH), statuses);
          idle = !more;
          if (tasks.length && !this.stopping) {
            const subjects: ClaimedSubjects = new Map();
            for (const task of tasks) this.launch(task, log, subjects);
            idleMs = this.options.pollIntervalMs;
            continue;
          }
          // Claimed while stopping: hand them back at once (a new worker takes them without waiting for the lease).
          for (const task of tasks) await returnTask(this.services.ds, task, this.id, this.services.clock.now());
        }
        await this.sleep(this.running.size >= this.options.concurrency ? this.options.sweepIntervalMs : idleMs);
      } catch (error) {
        // The database may be away for a moment: back off, keep running.
        log.error({ err: error }, "worker loop error");
        idleMs = Math.min(idleMs * 2, 10_000);
        await this.sleep(idleMs, true);
      }
    }
  }

  private launch(task: TaskRow, log: Services["logger"], subjects: ClaimedSubjects): void {
    const abort = new AbortController();
    const done = runTask(this.services, this.registry, task, { workerId: this.id, ...this.options, subjects, handOff: this.handOff }, abort)
      .catch((error) => log.error({ err: error, taskId: task.id }, "task bookkeeping failed; the sweeper will take it back"))
      .finally(() => {
        this.running.delete(task.id);
        this.wake();
      });
    this.running.set(task.id, { abort, done });
  }

  private sleep(ms: number, afterError = false): Promise<void> {
    // A wake that came while the loop was busy (claiming) is not lost: the loop goes round at once. Not
    // after an error: a database that is away is given its back-off whatever woke us. A stop that came
    // while it was busy ends the loop now, not after the sleep (the loop clears `woken` before claiming).
    if ((this.woken && !afterError) || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Stops claiming, asks running tasks to hand themselves back, and waits (up to stopGraceMs) for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    for (const { abort } of this.running.values()) abort.abort("shutdown");
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, this.options.stopGraceMs).unref())]);
  }
}
