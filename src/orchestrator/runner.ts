import { Connector, ConnectorError, Identities, SubjectRecord, TaskContext } from "../connectors/sdk";
import { RequestType } from "../domain/enums";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { RequestIdentityRow, RequestRow, TaskRow } from "../entities";
import { breathe } from "../eventLoop";
import { exportTools } from "../export/context";
import { insertAlone, StagingWriter } from "../export/staging";
import { stagingKey } from "../export/stagingKeys";
import type { Services } from "../services";
import { BackoffPolicy, retryDelayMs } from "./backoff";
import { heartbeatEveryMs, runExportStep } from "../export/exportStep";
import { ConnectorRegistry } from "./registry";
import { taskAttempts, taskDuration, taskFailures } from "../metrics";
import { completeTask } from "./sql/completeTask";
import { StopReason, Stopped, untilAborted } from "./stopping";
import { deletionContextFor, planRows, surveyConnector } from "./deletion";
import { runErasure } from "./erasure";
import { extendLease } from "./sql/extendLease";
import { failTask } from "./sql/failTask";
import { parkTask } from "./sql/parkTask";
import { returnTask } from "./sql/returnTask";

export interface RunOptions {
  workerId: string;
  leaseMs: number;
  taskTimeoutMs: number;
  backoff: BackoffPolicy;
}

async function loadIdentities(services: Services, requestId: string): Promise<Identities> {
  const rows = await services.ds.getRepository(RequestIdentityRow).findBy({ requestId });
  return Object.fromEntries(rows.map((r) => [r.kind, r.value])) as Identities;
}

export function missingNeeds(connector: Connector, ids: Identities): string[] {
  const { needs, needsAny } = connector.spec;
  const missing = needs.filter((k) => !(ids as Record<string, string | undefined>)[k]);
  if (needs.length === 0) return [];
  return needsAny ? (missing.length === needs.length ? missing : []) : missing;
}

/**
 * Streams a COLLECT into encrypted staged batches (export/staging.ts), giving the event loop a turn
 * every few milliseconds and extending the lease while records keep coming.
 */
async function stageRecords(services: Services, task: TaskRow, records: AsyncIterable<SubjectRecord>, ctx: TaskContext): Promise<number> {
  const { ds, clock } = services;
  const key = () => stagingKey(ds, exportTools(services).keys, task.requestId, clock.now());
  const target = { requestId: task.requestId, taskId: task.id, attempt: task.attempts, connector: task.connector };
  const writer = new StagingWriter(key, target, insertAlone(ds), () => clock.now());
  const beatEveryMs = heartbeatEveryMs(services.config.DSR_TASK_LEASE_MS);
  let lastBeat = Date.now();
  try {
    for await (const r of records) {
      if (ctx.signal.aborted) throw new Stopped(ctx.signal.reason as StopReason);
      await writer.add(r);
      await breathe();
      if (Date.now() - lastBeat >= beatEveryMs) {
        lastBeat = Date.now();
        await ctx.heartbeat();
      }
    }
    return await writer.finish();
  } catch (error) {
    await writer.discard();
    throw error;
  }
}

/**
 * Runs one claimed task to an outcome: completed, failed (or scheduled for retry), parked, or handed
 * back. Every outcome is written through the lease guard, so a worker that lost the task writes nothing.
 */
export async function runTask(services: Services, registry: ConnectorRegistry, task: TaskRow, options: RunOptions, abort: AbortController): Promise<void> {
  const { ds, clock } = services;
  const logger = services.logger.child({ requestId: task.requestId, taskId: task.id, connector: task.connector, step: task.step, attempt: task.attempts });
  const connector = registry.get(task.connector);
  const now = () => clock.now();
  if (!connector && task.step !== TaskStep.EXPORT) {
    await failTask(ds, task, options.workerId, { userMessage: `Connector ${task.connector} is not registered in this installation`, retryable: false, retryInMs: 0 }, now());
    return;
  }
  const timeout = setTimeout(() => abort.abort("timeout"), options.taskTimeoutMs);
  let leaseWatch = setTimeout(() => abort.abort("lease-lost"), options.leaseMs);
  const ctx: TaskContext = {
    requestId: task.requestId,
    taskId: task.id,
    attempt: task.attempts,
    logger,
    signal: abort.signal,
    idempotencyKey: task.idempotencyKey,
    now,
    heartbeat: async () => {
      if (abort.signal.aborted) return;
      if (await extendLease(ds, task.id, options.workerId, now(), options.leaseMs)) {
        clearTimeout(leaseWatch);
        leaseWatch = setTimeout(() => abort.abort("lease-lost"), options.leaseMs);
      } else abort.abort("lease-lost");
    },
  };
  const started = Date.now();
  // "ok" covers every non-error end (completed, skipped, parked): the task row says which.
  let attemptOutcome = "ok";
  try {
    // EXPORT is the service's own step, not a connector's (only it may run without one).
    if (task.step === TaskStep.EXPORT || !connector) {
      const written = await untilAborted(runExportStep(services, task, ctx), abort.signal);
      if (await completeTask(ds, task, options.workerId, { records: written.records }, now())) await written.afterComplete();
      return;
    }
    const ids = await loadIdentities(services, task.requestId);
    const missing = missingNeeds(connector, ids);
    if (missing.length) {
      await parkTask(ds, task, options.workerId, { status: TaskStatus.SKIPPED, note: `needs ${missing.join(" or ")}, which no connector found for this subject` }, now());
      return;
    }
    if (connector.spec.manual) {
      const note = connector.spec.instructions ?? `Do the ${task.step} step in ${connector.spec.name} by hand, then complete this task`;
      await parkTask(ds, task, options.workerId, { status: TaskStatus.AWAITING_INPUT, note }, now());
      return;
    }
    switch (task.step) {
      case TaskStep.RESOLVE: {
        const found = await untilAborted(connector.resolve!(ids, ctx), abort.signal);
        await completeTask(ds, task, options.workerId, { identitiesFound: Object.keys(found).sort() }, now(), { found: found as Record<string, string> });
        break;
      }
      case TaskStep.COLLECT: {
        const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
        if (request.type === RequestType.DELETION) {
          // A deletion's survey: counts for the plan, nothing staged.
          const planned = await untilAborted(surveyConnector(connector, ids, ctx, await deletionContextFor(services, request)), abort.signal);
          await completeTask(ds, task, options.workerId, { records: planned.reduce((n, p) => n + p.found, 0) }, now(), { planItems: planRows(planned) });
          break;
        }
        const records = await untilAborted(stageRecords(services, task, connector.collect(ids, ctx), ctx), abort.signal);
        await completeTask(ds, task, options.workerId, { records }, now());
        break;
      }
      case TaskStep.ERASE:
      case TaskStep.PURGE: {
        await runErasure(services, connector, task, ids, ctx, options, abort.signal);
        break;
      }
      case TaskStep.RECTIFY: {
        const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
        const outcome = await untilAborted(connector.rectify!(ids, request.corrections ?? [], ctx), abort.signal);
        await completeTask(ds, task, options.workerId, { changed: outcome.changed, notHeld: outcome.notHeld }, now());
        break;
      }
      default:
        await failTask(ds, task, options.workerId, { userMessage: `Step ${task.step} is not run by connectors`, retryable: false, retryInMs: 0 }, now());
    }
  } catch (error) {
    attemptOutcome = await handleFailure(services, task, options, error, abort.signal, logger);
  } finally {
    clearTimeout(timeout);
    clearTimeout(leaseWatch);
    const durationMs = Date.now() - started;
    const labels = { connector: task.connector, step: task.step };
    taskAttempts.inc(labels);
    taskDuration.observe(labels, durationMs / 1000);
    logger.info({ durationMs, outcome: attemptOutcome }, "task attempt ended");
  }
}

/** Records the failure through the lease guard; returns what became of the attempt (for its log line). */
async function handleFailure(services: Services, task: TaskRow, options: RunOptions, error: unknown, signal: AbortSignal, logger: Services["logger"]): Promise<string> {
  const { ds, clock } = services;
  const reason = error instanceof Stopped ? error.reason : signal.aborted ? (signal.reason as StopReason) : null;
  if (reason === "shutdown") {
    await returnTask(ds, task, options.workerId, clock.now());
    return "returned";
  }
  if (reason === "lease-lost") {
    logger.warn("lease lost: this attempt's outcome is discarded");
    return "lease-lost";
  }
  let userMessage: string;
  let retryable: boolean;
  let retryAfter: number | undefined;
  if (reason === "timeout") {
    userMessage = `The connector did not finish within ${Math.round(options.taskTimeoutMs / 1000)} s`;
    retryable = true;
  } else if (error instanceof ConnectorError) {
    userMessage = error.userMessage;
    retryable = error.retryable;
    retryAfter = error.retryAfterMs;
    logger.warn({ internal: error.internalMessage, retryable, retryAfterMs: retryAfter }, "connector error");
  } else {
    userMessage = "The connector failed unexpectedly (details are in the service log)";
    retryable = true;
    logger.error({ err: error }, "unexpected connector failure");
  }
  taskFailures.inc({ connector: task.connector, step: task.step, retryable: String(retryable) });
  const outcome = await failTask(ds, task, options.workerId, { userMessage, retryable, retryInMs: retryDelayMs(task.attempts, options.backoff, retryAfter) }, clock.now());
  if (outcome === "LOST") logger.warn("lease lost before the failure could be recorded");
  return outcome === "RETRY" ? "retry" : outcome === "FAILED" ? "failed" : "lease-lost";
}
