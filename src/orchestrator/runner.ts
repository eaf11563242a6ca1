import { Connector, ConnectorError, Identities, ManualStep, noErasure, SubjectRecord, TaskContext } from "../connectors/sdk";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import { describeManualHold, describeManualRectifyHold, manualHold } from "./manualHold";
import { RequestType, TERMINAL_STATUSES } from "../domain/enums";
import { correctionGaps } from "../domain/corrections";
import { acceptedFinds, emailSpellings } from "../domain/identities";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { RequestIdentityRow, RequestRow, StagedBatchRow, TaskRow } from "../entities";
import { breathe, turnDue } from "../eventLoop";
import { exportTools } from "../export/context";
import { sealSurveyed } from "./surveyedIds";
import { dropEarlierAttempts, StagingWriter } from "../export/staging";
import { readStagingKey, stagingKey } from "../export/stagingKeys";
import type { Services } from "../services";
import { BackoffPolicy, describeWait, retryWait } from "./backoff";
import { heartbeatEveryMs, runExportStep } from "../export/exportStep";
import { ConnectorRegistry } from "./registry";
import { taskAttempts, taskDuration, taskFailures } from "../metrics";
import { completeTask, HandOff, trackRunning } from "./sql/completeTask";
import { StopReason, Stopped, untilAborted } from "./stopping";
import { deletionContextFor, planRows, surveyConnector } from "./deletion";
import { ErasureFailed, runErasure } from "./erasure";
import { extendLease } from "./sql/extendLease";
import { extendTaskUnits } from "./holdFence";
import { rectifyUnlessHeld } from "./heldCorrection";
import { CollectNotes } from "./collectNotes";
import { failTask } from "./sql/failTask";
import { parkTask } from "./sql/parkTask";
import { deferTask, returnTask } from "./sql/returnTask";
import { eraseWaitsFor, identityMovedSince } from "../queries/taskFinder";
import { noDeletionAtWork } from "./correctionOrder";
import { guardedBatchInsert } from "./sql/stageRecords";

/** How long an erasure waits before it looks again at an access request still collecting from its system (or a correction writing to it). */
const ACCESS_WAIT_MS = 5_000;

export interface RunOptions {
  workerId: string;
  leaseMs: number;
  taskTimeoutMs: number;
  backoff: BackoffPolicy;
  /** Shared by the tasks of one claim: each request's subject is read once for all of them. */
  subjects?: ClaimedSubjects;
  /** The worker, to be handed the task a completion releases (completeTask). */
  handOff?: HandOff;
}

/** `found`: which connector's RESOLVE found each kind of `ids` (a kind the request gave is absent). */
type Subject = { type: RequestType; ids: Identities; found: Record<string, string> };

/**
 * The subjects of the tasks one claim took, by request. Every task a claim takes is runnable then, so
 * the identities its dependencies (RESOLVEs) found were committed before the claim, and one read after
 * it serves all of them: a request's four COLLECTs, claimed together, read their subject once. A map
 * lives as long as its claim's tasks start; a later claim reads again.
 */
export type ClaimedSubjects = Map<string, Promise<Subject>>;

function subjectOf(services: Services, requestId: string, shared?: ClaimedSubjects): Promise<Subject> {
  if (!shared) return loadSubject(services, requestId);
  let read = shared.get(requestId);
  if (!read) shared.set(requestId, (read = loadSubject(services, requestId)));
  // Each task its own copy: a connector that changed what it was given would change it for no other.
  return read.then(({ type, ids, found }) => ({ type, ids: { ...ids }, found }));
}

/** The request's type and the identities its tasks work from, in one read. */
async function loadSubject(services: Services, requestId: string): Promise<Subject> {
  const rows: Array<{ type: RequestType; kind: string | null; value: string | null; source: string | null }> = await services.ds
    .createQueryBuilder()
    .select("r.type", "type")
    .addSelect("i.kind", "kind")
    .addSelect("i.value", "value")
    .addSelect("i.source", "source")
    .from(RequestRow, "r")
    .leftJoin(RequestIdentityRow, "i", "i.requestId = r.id")
    .where("r.id = :requestId", { requestId })
    .getRawMany();
  if (!rows.length) throw new Error(`request ${requestId} of a claimed task is not there`);
  const found = Object.fromEntries(rows.filter((r) => r.kind !== null && r.source !== null && r.source !== "request").map((r) => [r.kind, r.source])) as Record<string, string>;
  return { type: rows[0].type, ids: Object.fromEntries(rows.filter((r) => r.kind !== null).map((r) => [r.kind, r.value])) as Identities, found };
}

export function missingNeeds(connector: Connector, ids: Identities): string[] {
  const { needs, needsAny } = connector.spec;
  const missing = needs.filter((k) => !(ids as Record<string, string | undefined>)[k]);
  if (needs.length === 0) return [];
  return needsAny ? (missing.length === needs.length ? missing : []) : missing;
}

/**
 * Streams a COLLECT into encrypted staged batches (export/staging.ts), giving the event loop a turn
 * every few milliseconds and extending the lease while records keep coming. Each batch lands under the
 * lease guard (a zombie attempt stages nothing).
 */
async function stageRecords(services: Services, task: TaskRow, workerId: string, connector: Connector, records: AsyncIterable<SubjectRecord>, ctx: TaskContext): Promise<{ records: number; held: StagedBatchRow[] }> {
  const { ds, clock } = services;
  const key = () => stagingKey(ds, exportTools(services).keys, task.requestId, clock.now());
  const target = { requestId: task.requestId, taskId: task.id, attempt: task.attempts, connector: task.connector };
  const writer = new StagingWriter(key, target, guardedBatchInsert(ds, task, workerId), () => clock.now());
  writer.prefetchKey(() => readStagingKey(ds, exportTools(services).keys, task.requestId));
  const beatEveryMs = heartbeatEveryMs(services.config.DSR_TASK_LEASE_MS);
  let lastBeat = performance.now();
  try {
    const declared = new Set<string>(connector.spec.categories);
    for await (const r of records) {
      if (ctx.signal.aborted) throw new Stopped(ctx.signal.reason as StopReason);
      // The export files a record under its category: one the spec does not declare could share another's file name.
      if (!declared.has(r.category)) {
        throw new ConnectorError(`${task.connector} returned a record of category "${String(r.category)}", which it does not declare: fix the connector`, `record category ${String(r.category)} not in spec.categories`, false);
      }
      const sealing = writer.append(r);
      if (sealing) await sealing;
      if (turnDue()) await breathe();
      if (performance.now() - lastBeat >= beatEveryMs) {
        lastBeat = performance.now();
        await ctx.heartbeat();
      }
    }
    // The last batches land with the completion (under its lease guard), not one statement each.
    return await writer.finishHeld();
  } catch (error) {
    await writer.discard();
    throw error;
  }
}

/**
 * What a manual task adds to its instructions when the subject's address has more than one spelling
 * (an internationalised domain, accented letters): a system searched by hand may hold either, as the connectors' own
 * look-ups know. The note names no address (notes are not personal data); the request shows them.
 */
export function manualSpellingsHint(ids: Identities): string {
  const spellings = ids.email ? emailSpellings(ids.email).length : 0;
  return spellings > 1 ? ` The subject's address has ${spellings} spellings (an internationalised domain or accented letters are stored more than one way): search for each of the request's subject.emailSpellings.` : "";
}

/** Which of a manual connector's instructions a task shows (a purge erases what a deletion kept). */
const MANUAL_STEP: Partial<Record<TaskStep, ManualStep>> = { [TaskStep.COLLECT]: "collect", [TaskStep.ERASE]: "erase", [TaskStep.PURGE]: "erase", [TaskStep.RECTIFY]: "rectify" };

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
  // A connector may beat as often as it likes: the lease is written at most every quarter lease.
  let extendedAt = performance.now();
  let keeper: NodeJS.Timeout | undefined;
  const ctx: TaskContext = {
    requestId: task.requestId,
    taskId: task.id,
    attempt: task.attempts,
    logger,
    signal: abort.signal,
    idempotencyKey: task.idempotencyKey,
    now,
    // Only an erasure (runErasure) lets units run.
    eraseUnit: noErasure,
    unfinishedUnits: async () => [],
    heartbeat: async () => {
      if (abort.signal.aborted || performance.now() - extendedAt < options.leaseMs / 4) return;
      extendedAt = performance.now();
      if (await extendLease(ds, task, options.workerId, now(), options.leaseMs)) {
        // Units of erasure under way live as long as the lease: a hold waits for them, not for ever.
        if (task.step === TaskStep.ERASE || task.step === TaskStep.PURGE || task.step === TaskStep.RECTIFY) await extendTaskUnits(ds, task.id, now(), new Date(now().getTime() + options.leaseMs));
        clearTimeout(leaseWatch);
        leaseWatch = setTimeout(() => abort.abort("lease-lost"), options.leaseMs);
      } else abort.abort("lease-lost");
    },
  };
  const started = performance.now();
  // "ok" covers every non-error end (completed, skipped, parked): the task row says which.
  let attemptOutcome = "ok";
  // Siblings' completions may be held back for this one while it runs (completeTask's group commit).
  const untrack = trackRunning(ds, task);
  try {
    // EXPORT is the service's own step, not a connector's (only it may run without one).
    if (task.step === TaskStep.EXPORT || !connector) {
      // The service's own work, with stretches (key, encryption, upload) that beat no heartbeat: its lease
      // is kept by a timer while it runs; the task timeout still bounds it.
      keeper = setInterval(() => void ctx.heartbeat().catch(() => undefined), Math.max(50, options.leaseMs / 3));
      const written = await untilAborted(runExportStep(services, task, ctx), abort.signal);
      // The export row is recorded by the completion itself: an attempt that lost its task records none.
      const completed = await completeTask(ds, task, options.workerId, { records: written.records }, now(), { within: written.record }).catch(async (error: unknown) => {
        await written.discard().catch(() => undefined);
        throw error;
      });
      if (!completed) {
        await written.discard().catch(() => undefined);
        throw new Stopped("lease-lost");
      }
      await written.afterComplete();
      return;
    }
    const { type, ids, found: foundBy } = await subjectOf(services, task.requestId, options.subjects);
    // What its own RESOLVE found, its later steps follow beside what its rows yield then (TaskContext.foundHere).
    const foundHere = task.step === TaskStep.RESOLVE ? [] : Object.keys(foundBy).filter((kind) => foundBy[kind] === task.connector);
    if (foundHere.length) ctx.foundHere = foundHere;
    const missing = missingNeeds(connector, ids);
    if (missing.length) {
      await parkTask(ds, task, options.workerId, { status: TaskStatus.SKIPPED, note: `needs ${missing.join(" or ")}, which no connector found for this subject` }, now());
      return;
    }
    if (connector.spec.manual) {
      const step = MANUAL_STEP[task.step];
      const instructions = (step && connector.spec.instructions?.[step]) || `Do the ${task.step} step in ${connector.spec.name} by hand, then complete this task`;
      // A person erases: the hold fence cannot stop them, so the task tells them what a hold keeps.
      // So can a person's correction: the task tells them a hold keeps the system's data as it is.
      const hold = step === "erase" || step === "rectify" ? manualHold(connector.spec.categories.map(String), await activeHoldsFor(ds, ids.email)) : null;
      const note = !hold
        ? instructions
        : step === "rectify"
          ? `${instructions} ${describeManualRectifyHold(connector.spec.name, hold)}`
          : hold.whole
            ? describeManualHold(connector.spec.name, hold)
            : `${instructions} ${describeManualHold(connector.spec.name, hold)}`;
      await parkTask(ds, task, options.workerId, { status: TaskStatus.AWAITING_INPUT, note: note + manualSpellingsHint(ids) }, now());
      return;
    }
    switch (task.step) {
      case TaskStep.RESOLVE: {
        // Only the kinds it declared, in matching form: a resolver can never set email or an external id.
        const found = acceptedFinds(connector.spec.provides, await untilAborted(connector.resolve!(ids, ctx), abort.signal));
        await completeTask(ds, task, options.workerId, { identitiesFound: Object.keys(found).sort() }, now(), { found, handOff: options.handOff });
        break;
      }
      case TaskStep.COLLECT: {
        if (type === RequestType.DELETION) {
          // A deletion's survey: counts for the plan, nothing staged.
          const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
          const notes = new CollectNotes();
          const survey = await untilAborted(surveyConnector(connector, ids, { ...ctx, ...notes.reporters }, await deletionContextFor(services, request)), abort.signal);
          // What it plans to erase and to keep: the verification looks up those its collect no longer finds. Sealed before the completion's transaction.
          const refs = survey.refs.map((r) => (r.disposition === "KEEP" ? { ...r.ref, kept: true as const } : r.ref));
          const surveyed = await sealSurveyed(exportTools(services).keys, task, refs, now());
          await completeTask(ds, task, options.workerId, { records: survey.lines.reduce((n, p) => n + p.found, 0), ...notes.result() }, now(), { planItems: planRows(survey.lines), surveyed, handOff: options.handOff });
          break;
        }
        const notes = new CollectNotes();
        const { records, held } = await untilAborted(stageRecords(services, task, options.workerId, connector, connector.collect(ids, { ...ctx, ...notes.reporters }), ctx), abort.signal);
        const completed = await completeTask(ds, task, options.workerId, { records, ...notes.result() }, now(), { staged: held, handOff: options.handOff });
        // Batches carry their attempt's number and attempts only grow: a first attempt left none before it.
        if (completed && task.attempts > 1) {
          await dropEarlierAttempts(ds, task.id, task.attempts).catch((error: unknown) => logger.warn({ err: error }, "an earlier attempt's staged records are left for the request's clean-up"));
        }
        break;
      }
      case TaskStep.ERASE:
      case TaskStep.PURGE: {
        // An access request received first is answered with what the systems held: it collects before this erases.
        const deletion = task.step === TaskStep.ERASE && !task.remoteReference ? await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId }) : null;
        // A correction of the person already writing here: erased beside it, a row it moves (an address)
        // leaves the erase's reach (correctionOrder.ts).
        const waits = deletion && (await eraseWaitsFor(ds, deletion, task.connector));
        if (waits) {
          const reason = "access" in waits ? `Waits until access request ${waits.access}, received first, has collected from ${task.connector}` : `Waits until a correction of the same person has finished writing to ${task.connector}`;
          if (!(await deferTask(ds, task, options.workerId, now(), new Date(now().getTime() + ACCESS_WAIT_MS), reason))) throw new Stopped("lease-lost");
          break;
        }
        const moved = deletion ? await identityMovedSince(ds, deletion, task.connector, (connector.spec.identityFields ?? []).map((f) => f.field), task.createdAt) : [];
        if (moved.length) {
          throw new ConnectorError(
            `A correction of the same person changed ${moved.join(", ")} in ${task.connector} while this deletion was at work (its write had begun before the deletion was approved): ${task.connector} finds the person's rows by the corrected value now, which this deletion was not given, so nothing was erased there. Submit a deletion with the corrected value, or erase the rows by hand`,
            `erase refused: a correction moved ${moved.join(", ")} of the subject in ${task.connector} after the deletion was approved`,
            false,
          );
        }
        await runErasure(services, connector, task, ids, ctx, options, abort.signal);
        break;
      }
      case TaskStep.RECTIFY: {
        const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
        // Approved before the deletion was: it writes nothing once the deletion is at work (correctionOrder.ts),
        // neither at its start nor at any later unit of its writes; one unit already writing ends first (the ERASE
        // waits for it). Read in each unit's own guarded insert, under the subject's lock an approval takes.
        const claim = { task, workerId: options.workerId, also: noDeletionAtWork(ds, request, now) };
        const asked = request.corrections ?? [];
        const outcome = await rectifyUnlessHeld(services, connector, task, ids, asked, ctx, options.leaseMs, claim);
        const gaps = correctionGaps(asked.map((c) => c.field), [...(outcome.changed ?? []), ...(outcome.keptByHold ?? [])], outcome.notHeld ?? []);
        if (gaps.silent.length || gaps.notAsked.length) {
          const said = [gaps.silent.length ? `did not say whether it changed ${gaps.silent.join(", ")}` : "", gaps.notAsked.length ? `reported fields the correction does not ask for (${gaps.notAsked.length})` : ""].filter(Boolean).join(" and ");
          throw new ConnectorError(`${task.connector} ${said}: the correction cannot be reported done while a system may hold the old value`, `rectify outcome does not account for the fields asked`, false);
        }
        const { changed, notHeld, keptByHold, holdCases, heldCategories } = outcome;
        // The units' counts (writtenBefore) served the retries: gone with the completion.
        await completeTask(ds, task, options.workerId, { changed, notHeld, ...(keptByHold ? { keptByHold, holdCases, heldCategories } : {}) }, now(), { handOff: options.handOff, dropProgress: true });
        break;
      }
      default:
        await failTask(ds, task, options.workerId, { userMessage: `Step ${task.step} is not run by connectors`, retryable: false, retryInMs: 0 }, now());
    }
  } catch (error) {
    attemptOutcome = await handleFailure(services, task, options, error, abort.signal, logger);
  } finally {
    untrack();
    clearTimeout(timeout);
    clearTimeout(leaseWatch);
    clearInterval(keeper);
    const durationMs = performance.now() - started;
    const labels = { connector: task.connector, step: task.step };
    taskAttempts.inc(labels);
    taskDuration.observe(labels, durationMs / 1000);
    logger.info({ durationMs, outcome: attemptOutcome }, "task attempt ended");
  }
}

/**
 * How long until the due date of the task's request, while the request is open and that date ahead
 * (a retry waiting out a Retry-After comes by then); undefined otherwise (a PURGE of an ended request).
 */
async function untilDue(services: Services, task: TaskRow, now: Date): Promise<number | undefined> {
  const request = await services.ds.getRepository(RequestRow).findOne({ select: { id: true, status: true, dueAt: true }, where: { id: task.requestId } });
  if (!request || TERMINAL_STATUSES.includes(request.status)) return undefined;
  const left = request.dueAt.getTime() - now.getTime();
  return left > 0 ? left : undefined;
}

/** Records the failure through the lease guard; returns what became of the attempt (for its log line). */
async function handleFailure(services: Services, task: TaskRow, options: RunOptions, failure: unknown, signal: AbortSignal, logger: Services["logger"]): Promise<string> {
  const { ds, clock } = services;
  // A failed erasure brings what was counted after it: kept on the task row (for the next attempt too), said in its error.
  const counted = failure instanceof ErasureFailed ? failure : undefined;
  const error = counted ? counted.error : failure;
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
    userMessage = `${error.userMessage}${counted?.said ?? ""}`;
    retryable = error.retryable;
    retryAfter = error.retryAfterMs;
    logger.warn({ internal: error.internalMessage, retryable, retryAfterMs: retryAfter }, "connector error");
  } else {
    userMessage = "The connector failed unexpectedly (details are in the service log)";
    retryable = true;
    logger.error({ err: error }, "unexpected connector failure");
  }
  const now = clock.now();
  const wait = retryWait(task.attempts, options.backoff, retryAfter, retryAfter === undefined ? undefined : await untilDue(services, task, now));
  let retryNote: string | undefined;
  if (wait.askedMs !== undefined) {
    const by = wait.cutBy === "due" ? "by the request's due date" : "the most DSR_RETRY_AFTER_MAX_MS allows";
    retryNote = ` (the system asked to wait ${describeWait(wait.askedMs)}; retried in ${describeWait(wait.delayMs)}, ${by})`;
  }
  const outcome = await failTask(ds, task, options.workerId, { userMessage, retryable, retryInMs: wait.delayMs, retryNote, ...(counted ? { result: counted.result } : {}) }, now);
  // Counted once recorded, by whether the task is retried: a retryable error with no attempt left is a final failure.
  if (outcome !== "LOST") taskFailures.inc({ connector: task.connector, step: task.step, retryable: String(outcome === "RETRY") });
  if (outcome === "RETRY" && retryNote) logger.warn({ retryAfterAskedMs: wait.askedMs, retryInMs: wait.delayMs, cutBy: wait.cutBy }, "Retry-After cut short: the task is retried sooner than the system asked");
  if (outcome === "LOST") logger.warn("lease lost before the failure could be recorded");
  return outcome === "RETRY" ? "retry" : outcome === "FAILED" ? "failed" : "lease-lost";
}
