import type { Connector, Identities, TaskContext } from "../connectors/sdk";
import { deletionInstruction } from "../domain/retention";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { DeletionPlanItemRow, RequestRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { deletionContextFor, holdExceptions, ruleExceptions, verifyErasure } from "./deletion";
import type { RunOptions } from "./runner";
import { completeTask } from "./sql/completeTask";
import { failTask } from "./sql/failTask";
import { parkTask } from "./sql/parkTask";
import { dueExceptions } from "./sql/schedulePurges";
import { untilAborted } from "./stopping";

/**
 * Runs an ERASE (a deletion) or a PURGE (kept sets whose time has come) against one connector.
 * The instruction is computed now, from the rules and the subject's active holds: a connector never
 * sees a held category. After a deletion's erasure a verification pass collects again, and the task
 * fails loudly, recording nothing as done, if anything is left that no exception allows.
 */
export async function runErasure(services: Services, connector: Connector, task: TaskRow, ids: Identities, ctx: TaskContext, options: RunOptions, signal: AbortSignal): Promise<void> {
  const { ds, clock } = services;
  const now = () => clock.now();
  const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
  const dctx = await deletionContextFor(services, request);
  const purge = task.step === TaskStep.PURGE;
  const due = purge ? await dueExceptions(ds, dctx.now, { requestId: task.requestId, connector: task.connector }) : [];
  const categories = purge ? [...new Set(due.map((e) => e.category))] : connector.spec.categories;
  const instruction = deletionInstruction(categories, dctx);
  if (purge && instruction.categories.length === 0) {
    await completeTask(ds, task, options.workerId, { erased: 0 }, now());
    return;
  }

  const outcome = await untilAborted(task.remoteReference ? connector.poll!(task.remoteReference, ctx) : connector.erase!(ids, instruction, ctx), signal);
  const erased = (task.result?.erased ?? 0) + outcome.erased;
  if (outcome.remote) {
    const pollAt = new Date(now().getTime() + outcome.remote.pollAfterMs);
    await parkTask(ds, task, options.workerId, { status: TaskStatus.REMOTE_PROCESSING, reference: outcome.remote.reference, pollAt, result: { erased } }, now());
    return;
  }

  const kept = ruleExceptions(outcome.kept ?? [], services.retentionRules);
  let remaining: number | undefined;
  if (!purge) {
    const plan = await ds.getRepository(DeletionPlanItemRow).findBy({ requestId: task.requestId, connector: task.connector });
    kept.push(...holdExceptions(plan, dctx, instruction));
    if (connector.spec.supports.includes("access") && !connector.spec.manual) {
      const check = await untilAborted(verifyErasure(connector, ids, ctx, instruction, outcome.kept ?? []), signal);
      const left = Object.entries(check.unexpected);
      if (left.length) {
        const total = left.reduce((n, [, c]) => n + c, 0);
        ctx.logger.error({ unexpected: check.unexpected }, "verification after erasure found records outside the retention exceptions");
        await failTask(
          ds,
          task,
          options.workerId,
          {
            userMessage: `Verification after erasure found ${total} record(s) still present outside the retention exceptions (${left.map(([c, n]) => `${c}: ${n}`).join(", ")})`,
            retryable: false,
            retryInMs: 0,
          },
          now(),
        );
        return;
      }
      remaining = check.remaining;
    }
  }
  const keptCount = kept.reduce((n, k) => n + k.recordCount, 0);
  const closeExceptions = due.filter((e) => instruction.categories.includes(e.category)).map((e) => e.id);
  await completeTask(
    ds,
    task,
    options.workerId,
    { erased, ...(kept.length ? { kept: keptCount } : {}), ...(remaining !== undefined ? { remaining } : {}) },
    now(),
    { kept, closeExceptions },
  );
}
