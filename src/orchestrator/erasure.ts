import type { Connector, Identities, TaskContext } from "../connectors/sdk";
import { deletionInstruction } from "../domain/retention";
import { TaskStatus, TaskStep } from "../domain/tasks";
import type { OutcomeLine } from "../domain/counting";
import { DeletionPlanItemRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, SurveyedRecordRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { deletionContextFor, holdExceptions, ruleExceptions, verifyErasure } from "./deletion";
import { addOutcome, outcomeLines, partialOf } from "./erasureOutcome";
import type { RunOptions } from "./runner";
import { completeTask, KeptException } from "./sql/completeTask";
import { failTask } from "./sql/failTask";
import { parkTask } from "./sql/parkTask";
import { dueExceptions } from "./sql/schedulePurges";
import { untilAborted } from "./stopping";

/**
 * Runs an ERASE (a deletion) or a PURGE (kept sets whose time has come) against one connector.
 * The instruction is computed now, from the rules and the subject's active holds: a connector never
 * sees a held category. Remote work (redaction jobs) is polled with what was done so far kept in the
 * task row. The outcome is counted by the counting rule and set beside the plan, line by line, with every
 * difference named. After a deletion's erasure a verification pass collects again (and looks up the
 * surveyed ids), and the task fails loudly, recording nothing as done, if anything is left that the rule
 * does not keep and the connector did not name residual.
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
  const soFar = addOutcome(task.remoteReference ? task.result : null, outcome, instruction, connector.spec.categories);
  const { erased } = soFar;
  if (outcome.remote) {
    const pollAt = new Date(now().getTime() + outcome.remote.pollAfterMs);
    await parkTask(ds, task, options.workerId, { status: TaskStatus.REMOTE_PROCESSING, reference: outcome.remote.reference, pollAt, result: { erased, partial: partialOf(soFar) } }, now());
    return;
  }

  let kept = ruleExceptions(soFar.kept, services.retentionRules);
  // A set kept past its own period would be purged again at once, for ever: a connector fault, loudly.
  const overdue = kept.filter((k) => k.retainUntil && k.retainUntil < dctx.now);
  if (overdue.length) {
    await failTask(
      ds,
      task,
      options.workerId,
      {
        userMessage: `The connector kept ${overdue.map((k) => `${k.recordCount} ${k.recordType}`).join(", ")} whose retention period has already ended; nothing was recorded as kept`,
        retryable: false,
        retryInMs: 0,
      },
      now(),
    );
    return;
  }
  let remaining: number | undefined;
  let lines: OutcomeLine[] | undefined;
  if (!purge) {
    const plan = await ds.getRepository(DeletionPlanItemRow).findBy({ requestId: task.requestId, connector: task.connector });
    kept.push(...holdExceptions(plan, dctx, instruction));
    lines = outcomeLines(plan, soFar, kept, dctx);
    if (connector.spec.supports.includes("access") && !connector.spec.manual) {
      const surveyed = (await ds.getRepository(SurveyedRecordRow).findBy({ requestId: task.requestId, connector: task.connector, disposition: "ERASE" })).map((r) => ({ category: r.category, type: r.recordType, id: r.recordId }));
      const check = await untilAborted(verifyErasure(connector, ids, ctx, instruction, soFar.residual, surveyed), signal);
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
  let closeExceptions: string[] = [];
  if (purge) {
    // What the connector reports kept now replaces the open exceptions of the purged categories: those
    // reported again unchanged stay open as they are; the others were purged (or superseded).
    const open = await ds.getRepository(RetentionExceptionRow).findBy({ requestId: task.requestId, connector: task.connector, status: RetentionExceptionStatus.OPEN });
    const same = (e: RetentionExceptionRow, k: KeptException) =>
      !e.holdId && e.category === k.category && e.recordType === k.recordType && e.recordCount === k.recordCount && e.retainUntil?.getTime() === k.retainUntil?.getTime();
    const inScope = open.filter((e) => instruction.categories.includes(e.category));
    const unchanged = inScope.filter((e) => kept.some((k) => same(e, k)));
    closeExceptions = inScope.filter((e) => !unchanged.includes(e)).map((e) => e.id);
    kept = kept.filter((k) => !unchanged.some((e) => same(e, k)));
  }
  const keptCount = kept.reduce((n, k) => n + k.recordCount, 0);
  const residual = soFar.residual.reduce((n, r) => n + r.count, 0);
  await completeTask(
    ds,
    task,
    options.workerId,
    {
      erased,
      ...(soFar.redacted ? { redacted: soFar.redacted } : {}),
      ...(kept.length ? { kept: keptCount } : {}),
      ...(residual ? { residual, residualSets: soFar.residual } : {}),
      ...(remaining !== undefined ? { remaining } : {}),
      ...(lines ? { lines } : {}),
    },
    now(),
    { kept, closeExceptions, dropSurveyed: !purge },
  );
}
