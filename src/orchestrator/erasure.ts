import type { Connector, ErasureInstruction, ErasureOutcome, Identities, ResidualRecords, TaskContext } from "../connectors/sdk";
import { ConnectorError } from "../connectors/sdk";
import { DeletionContext, deletionInstruction, holdFor } from "../domain/retention";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import { ErasureConfirmation, TaskStatus, TaskStep } from "../domain/tasks";
import { DifferenceKind, KeptByDeletion, KeptCount, KeptIds, OutcomeLine } from "../domain/counting";
import { DeletionPlanItemRow, ErasedResidue, keptSubjectEmail, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, TaskResult, TaskRow } from "../entities";
import type { Services } from "../services";
import { deletionContextFor, holdExceptions, keptAsVerified, ruleExceptions, surveyConnector, Verification, verifyErasure } from "./deletion";
import { FencedErasure, fencedErasure, unsettled, withdrawnCategories } from "./erasureUnits";
import { endRemoteUnit, erasedByEarlierUnits, extendRemoteUnit } from "./holdFence";
import { addIn, addOutcome, carriedOver, closingBase, closingResidual, countedSincePark, ErasureSoFar, instructedBy, outcomeLines, partialOf, residualStillHeld, withPollUnits } from "./erasureOutcome";
import type { RunOptions } from "./runner";
import { completeTask, KeptException } from "./sql/completeTask";
import { failTask } from "./sql/failTask";
import { parkTask } from "./sql/parkTask";
import { dueExceptions } from "./sql/schedulePurges";
import { earlierExceptions, exceptionsErasedBy } from "../queries/retentionFinder";
import { earlierReach } from "./earlierReach";
import { appendAuditEvent } from "../audit/auditTrail";
import { SYSTEM_ACTOR } from "../audit/actor";
import type { EntityManager } from "typeorm";
import { untilAborted } from "./stopping";
import { eraseGraph } from "./sql/armClosingPasses";
import { erasesWaitedFor } from "./closingPasses";
import { asResidual, auditResidueErased, auditUndatedBeyondIds, auditUndatedByIdentity, boundedToDeletion, countIn, countPerSet, deletionErase, heldBackResidue, keptByDeletionOf, keptUndatedOf, otherResidue, residueErasedNow, undatedBeyondIds, undatedRefs, withHeldBack } from "./heldBackResidue";
import { sealKeptUndated } from "./keptUndatedIds";
import { surveyedPages } from "./surveyedIds";
import { exportTools } from "../export/context";

/**
 * Runs an ERASE (a deletion) or a PURGE (kept sets whose time has come) against one connector.
 * The instruction is computed now, from the rules and the subject's active holds read through the hold
 * fence: a connector never sees a held category, and a hold placed while it erases withdraws the
 * category at the connector's next unit of work (what is left of it is then kept by the hold). Remote
 * work (redaction jobs) is polled with what was done so far kept in the task row. The outcome is counted
 * by the counting rule and set beside the plan, line by line, with every difference named. After a
 * deletion's erasure a verification pass collects again (and looks up the surveyed ids), and the task
 * fails loudly, recording nothing as done, if anything is left that the rule does not keep and the
 * connector did not name residual.
 */
export async function runErasure(services: Services, connector: Connector, task: TaskRow, ids: Identities, ctx: TaskContext, options: RunOptions, signal: AbortSignal): Promise<void> {
  const { ds, clock } = services;
  const now = () => clock.now();
  const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
  const purge = task.step === TaskStep.PURGE;
  // An ERASE that ended once and was armed again after its identity sources were erased (armClosingPasses).
  const closing = !purge && (task.result?.partial?.closingPass === true || (!task.remoteReference && task.result?.lines !== undefined));
  const due = purge ? await dueExceptions(ds, now(), { requestId: task.requestId, connector: task.connector }) : [];
  const categories = purge ? [...new Set(due.map((e) => e.category))] : connector.spec.categories;
  // Residue the deletion left because kept records held it back: the purge erases it by id once they are gone.
  const erase = purge ? await deletionErase(ds, task) : null;
  const heldBack = purge && connector.eraseHeldBack ? heldBackResidue(erase, task) : null;
  // A purge erases what its deletion kept, never what the person recorded since (found again by identity):
  // dated records by the deletion's time, those without a date by id, where the connector can (eraseHeldBack).
  // The undated ones' ids (kept_undated_ids, encrypted), read a page at a time wherever used, however many.
  const keptUndated = purge ? keptUndatedOf(ds, exportTools(services).keys, erase) : null;
  const keptBy = purge ? keptByDeletionOf(erase, request, keptUndated) : undefined;
  const byId = keptBy?.undated != null && connector.eraseHeldBack !== undefined;
  // Every category such residue was left in, erased since or not: the purge names what is residual there now.
  const residueCategories = [...new Set((heldBack?.sets ?? []).map((r) => r.category))];
  // The holds are read through the hold fence, and the whole call is one unit until the connector starts its own.
  const fence = await fencedErasure(services, { subjectEmail: keptSubjectEmail(request), taskId: task.id, requestId: task.requestId, connector: task.connector }, [...new Set([...categories, ...residueCategories])], ctx, options.leaseMs, signal, { task, workerId: options.workerId });
  // A poll keeps the cutoffs and holds its erase call was told (and holds placed since): what that call kept is what it was told to keep.
  const told = task.remoteReference ? task.result?.partial?.instructed : undefined;
  const holds = told ? [...told.holds.filter((h) => !fence.holds.some((x) => x.id === h.id)), ...fence.holds] : fence.holds;
  const dctx: DeletionContext = { rules: services.retentionRules, holds, now: told ? new Date(told.at) : now(), minor: request.concernsMinor };
  const bounded = (cs: readonly string[]) => (keptBy ? boundedToDeletion(deletionInstruction(cs, dctx), keptBy, byId) : deletionInstruction(cs, dctx));
  const instruction = bounded(categories);
  // The residue's own categories, as the holds allow them (a hold on the account's category keeps it).
  const residueInstruction = bounded(residueCategories);
  if (purge && instruction.categories.length === 0) {
    await completeHeldPurge(services, connector, task, ids, ctx, instruction, fence, options, signal, keptBy);
    return;
  }

  // What other attempts' units erased (an attempt killed, handed back part-way, or that lost its lease
  // mid-unit and ended the unit meanwhile): this attempt will not find those records to count them, so
  // they are carried over, read once its own calls ended. A poll starts from task.result, which holds
  // what units counted up to the park, and carries only what its own earlier attempts' units counted since.
  // Read once (it may wait for another attempt's unit to end): the residue pass, if any, reads it first.
  let othersRead: Promise<Record<string, number> | null> | undefined;
  const parked = task.remoteReference ? task.result?.partial?.unitsCounted : undefined;
  const othersNow = () => (othersRead ??= task.remoteReference ? (parked ? fence.erasedByOthers().then((all) => countedSincePark(all, parked)) : Promise.resolve(null)) : fence.erasedByOthers());
  let outcome: ErasureOutcome;
  let residueErased: ErasedResidue[] = [];
  // Kept records without a date a connector without eraseHeldBack erased by identity: said in the trail.
  let byIdentity: KeptCount[] = [];
  // Kept records without a date whose ids the deletion did not store (an ERASE from when they were capped): left, named residual and in the trail.
  let beyondIds: KeptCount[] = [];
  try {
    outcome = await untilAborted(task.remoteReference ? connector.poll!(task.remoteReference, fence.ctx) : connector.erase!(ids, instruction, fence.ctx), signal);
    if (outcome.remote) outcome = { ...outcome, remote: { ...outcome.remote, pollAfterMs: pollAfterMs(connector.spec.name, outcome.remote.pollAfterMs, ctx) } };
    // The kept records without a date, by id, a page at a time: the erase above left every such record alone (keepUndated).
    // Counted as they go, never kept: a deletion may have kept millions.
    const undated = undatedRefs(purge && !outcome.remote ? keptUndated : null, instruction.categories);
    const beyond = purge && !outcome.remote ? undatedBeyondIds(erase, instruction.categories) : [];
    if (byId) {
      const held = { erasedIn: {} as Record<string, number>, residual: [] as ResidualRecords[] };
      let pages = 0;
      for await (const page of undated) {
        const done = await untilAborted(connector.eraseHeldBack!(ids, page, instruction, fence.ctx), signal);
        countIn(held.erasedIn, done.erased);
        held.residual.push(...(done.residual ?? []));
        pages += 1;
        await fence.ctx.heartbeat();
      }
      if (pages || beyond.length) outcome = withHeldBack(outcome, { ...held, residual: [...held.residual, ...asResidual(beyond)] }, instruction, connector.spec.categories);
      beyondIds = beyond;
    } else {
      for await (const page of undated) countPerSet(byIdentity, page);
      byIdentity.push(...beyond);
    }
    // After what held it back was erased (and its remote work ended): whatever a kept record still holds back stays, named again.
    if (heldBack && residueInstruction.categories.length && !outcome.remote) {
      const refs = heldBack.refs.filter((r) => residueInstruction.categories.includes(r.category));
      const held = refs.length ? await untilAborted(connector.eraseHeldBack!(ids, refs, residueInstruction, fence.ctx), signal) : { erased: [] };
      const purgedNow = instruction.categories.map(String);
      residueErased = residueErasedNow({ ...heldBack, refs }, held, await othersNow(), purgedNow, now());
      // The deletion's other residue of those categories (nothing held it back) is still there: named again.
      const others = otherResidue(heldBack, residueInstruction.categories.map(String).filter((c) => !purgedNow.includes(c)));
      outcome = withHeldBack(outcome, { erasedIn: countIn({}, held.erased), residual: [...(held.residual ?? []), ...others] }, instruction, connector.spec.categories);
    }
  } catch (error) {
    // A stopped call may still be running: its units then lapse with the lease instead.
    if (!signal.aborted) await fence.end("failed");
    // A failed erase may still have written (a write that landed, answered with an error): counted now,
    // whether it is retried or not. The next attempt no longer finds those records; before, one retried
    // (the answer to a DELETE's COMMIT lost, the next attempt ending it) reported them FEWER_RECORDS
    // "erased by an earlier attempt or outside the service", counted erased by no one.
    if (!purge && !closing && !task.remoteReference && !signal.aborted && error instanceof ConnectorError && connector.spec.supports.includes("access") && !connector.spec.manual) {
      throw await countAfterFailure(services, connector, task, ids, ctx, signal, error);
    }
    // A purge's too: what it erased of the kept sets before its error is counted by the run that ends it.
    if (purge && !task.remoteReference && !signal.aborted && error instanceof ConnectorError && connector.spec.supports.includes("access") && !connector.spec.manual) {
      throw await countPurgeAfterFailure(services, connector, task, ids, ctx, signal, error, instruction, keptBy);
    }
    throw error;
  }
  // Remote work that cannot be called back stays fenced until a poll finds it ended: past the next poll
  // time by the poll interval and a lease, so a late poll does not open the fence while it still runs.
  // Work still revocable (jobs queued or validated but not run, which a hold withdraws at their
  // eraseUnit) holds no fence: between waves of redaction jobs a hold can be placed.
  if (outcome.remote && !outcome.remote.revocable) await extendRemoteUnit(ds, task.id, new Date(now().getTime() + 2 * outcome.remote.pollAfterMs + options.leaseMs));
  else await endRemoteUnit(ds, task.id);
  const earlier = await othersNow();
  // Notes left at the call's end stay until the completion (or a failure) of the task: a process that dies in the verification pass leaves them to the next attempt.
  await fence.end(outcome.remote ? undefined : "completing");
  let soFar = addOutcome(
    task.remoteReference ? withPollUnits(task.result, earlier) : closing ? (task.result?.lines ? closingBase(task.result, earlier) : task.result) : carriedOver(earlier, purge ? undefined : task.result?.partial?.settled, purge ? [] : (task.result?.partial?.residual ?? [])),
    outcome,
    instruction,
    connector.spec.categories,
    Boolean(task.remoteReference),
    fence.ownCounted(),
  );
  if (earlier && Object.keys(earlier).length) ctx.logger.info({ erasedByEarlierAttempts: earlier }, "counted what earlier attempts of this erasure erased before they stopped");
  const { erased } = soFar;
  // Categories a hold took while (or since) the connector erased: what is left of them is the hold's.
  const heldSince = withdrawnCategories(instruction, await activeHoldsFor(ds, keptSubjectEmail(request)));
  if (outcome.remote) {
    const pollAt = new Date(now().getTime() + outcome.remote.pollAfterMs);
    await parkTask(ds, task, options.workerId, { status: TaskStatus.REMOTE_PROCESSING, reference: outcome.remote.reference, pollAt, result: { erased, partial: { ...partialOf(soFar), instructed: instructedBy(dctx), unitsCounted: await erasedByEarlierUnits(ds, task.id) } }, note: outcome.remote.pending?.slice(0, 1000) }, now());
    return;
  }

  const ruleKept = soFar.kept.filter((k) => !heldSince.categories.includes(String(k.category)));
  // What this pass itself named residual (a closing pass adds its first pass's below).
  const ownResidual = soFar.residual;
  if (closing) soFar = { ...soFar, residual: closingResidual(soFar.firstResidual ?? [], soFar.residual) };
  // An erase started anew after a failed run: that run's residue is still there, met again or not.
  else if (soFar.priorResidual?.length) soFar = { ...soFar, residual: closingResidual(soFar.priorResidual, soFar.residual) };
  let kept = ruleExceptions(ruleKept, services.retentionRules);
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
        ...(purge ? {} : settledOf(soFar, task)),
      },
      now(),
    );
    return;
  }
  let remaining: number | undefined;
  let lines: OutcomeLine[] | undefined;
  let undatedKept: KeptIds[] | null = null;
  if (!purge) {
    const plan = await ds.getRepository(DeletionPlanItemRow).findBy({ requestId: task.requestId, connector: task.connector });
    kept.push(...holdExceptions(plan, dctx, instruction));
    if (connector.spec.supports.includes("access") && !connector.spec.manual) {
      const surveyed = surveyedPages(ds.manager, exportTools(services).keys, task);
      const check = await untilAborted(verifyErasure(connector, ids, ctx, heldSince.instruction, soFar.residual, surveyed), signal);
      const counts = { planned: plan.reduce((n, l) => n + l.toErase, 0), erased: soFar.erased };
      if (await failedVerification(services, task, options, ctx, check, settledOf(soFar, task), counts)) return;
      remaining = check.remaining;
      undatedKept = check.undatedKept;
      // A closing pass carries its first pass's residue: only as much of it as the system still holds.
      // Only where lookup finds every type: residue of a type it does not find, cut off from the subject, would be taken for gone.
      if (closing && connector.lookup && !connector.lookupTypes) soFar = { ...soFar, residual: residualStillHeld(soFar.residual, ownResidual, check.notKept) };
      // What the rules and holds keep is what the system holds now, written meanwhile or not.
      const held = [...new Set([...plan.map((p) => p.category), ...Object.keys(check.byCategory)])].map((category) => ({ category, found: check.byCategory[category] ?? 0 }));
      kept = [...ruleExceptions(keptAsVerified(ruleKept, check.sets, heldSince.instruction.categories), services.retentionRules), ...holdExceptions(held, dctx, instruction)];
      kept.push(...heldSince.exceptions(check.byCategory));
    } else kept.push(...heldSince.exceptions(Object.fromEntries(plan.map((p) => [p.category, p.found]))));
    // A note the run settled says what its write did: its category's records are not also the failed attempt's to have erased.
    lines = outcomeLines(plan, soFar, kept, dctx, unsettled(task.result?.failedErasure?.goneIn, fence.notedCategories));
  }
  // Of the plan's records this run no longer found, those an earlier attempt that failed may have erased (ERASED_BY_FAILED_ATTEMPT);
  // a purge has no plan: what its failed attempts removed of the kept sets, where no note handed to this run settles it.
  const byFailed = purge
    ? inDoubt(task, fence, instruction.categories)
    : (lines ?? []).reduce((n, l) => n + l.differences.filter((d) => d.kind === DifferenceKind.ERASED_BY_FAILED_ATTEMPT).reduce((m, d) => m + d.records, 0), 0);
  const keptInAll = kept.reduce((n, k) => n + k.recordCount, 0);
  // A purge is verified as an erasure is: it closes its sets' exceptions only for what the system no
  // longer holds, and what is left of them is kept by the rule or by a hold that took a category while it
  // ran (its unit may have ended before the hold came, and erased it all), as collected again now.
  const recounted = purge && connector.spec.supports.includes("access") && !connector.spec.manual;
  if (recounted) {
    const check = await untilAborted(verifyErasure(connector, ids, ctx, heldSince.instruction, soFar.residual, null, keptBy), signal);
    if (await failedVerification(services, task, options, ctx, check, {})) return;
    kept = [...ruleExceptions(keptAsVerified(ruleKept, check.sets, heldSince.instruction.categories), services.retentionRules), ...heldSince.exceptions(check.byCategory)];
  }
  let closeExceptions: string[] = [];
  // Every category this run keeps records of, those its open exceptions already say included (dropped from `kept` below).
  const keepsOf = new Set(kept.map((k) => String(k.category)));
  if (purge || closing) {
    // What the connector reports kept now replaces the open exceptions of the purged categories (of
    // every category, after a closing pass): those reported again unchanged stay open as they are; the
    // others were purged (or superseded).
    const open = await ds.getRepository(RetentionExceptionRow).findBy({ requestId: task.requestId, connector: task.connector, status: RetentionExceptionStatus.OPEN });
    const same = (e: RetentionExceptionRow, k: KeptException) =>
      (e.holdId ?? null) === (k.holdId ?? null) && e.category === k.category && e.recordType === k.recordType && e.recordCount === k.recordCount && e.retainUntil?.getTime() === k.retainUntil?.getTime();
    // A category a hold took during the purge keeps its open exceptions as they were, unless counted again.
    const purged = (recounted ? instruction.categories : heldSince.instruction.categories).map(String);
    const inScope = closing ? open : open.filter((e) => purged.includes(e.category));
    const unchanged = inScope.filter((e) => kept.some((k) => same(e, k)));
    closeExceptions = inScope.filter((e) => !unchanged.includes(e)).map((e) => e.id);
    kept = kept.filter((k) => !unchanged.some((e) => same(e, k)));
  }
  // Read back, keeping nothing of a category it could erase: what earlier deletions of the person say
  // they keep of it is gone (a minor's deletion erases what an adult's kept); their exceptions close.
  const gone = remaining === undefined ? [] : heldSince.instruction.categories.filter((c) => !keepsOf.has(String(c)) && !soFar.residual.some((r) => String(r.category) === c));
  // What earlier deletions of the person keep here under identities this erasure could not look with stands, unseen by its read-back.
  const othersKept = remaining === undefined ? { reached: [], keptByEarlier: null } : await untilAborted(earlierReach(connector, ids, await earlierExceptions(ds, request, task.connector, ids, connector.spec.needs), ctx, now()), signal);
  const erasedElsewhere = exceptionsErasedBy(othersKept.reached, gone);
  const unreached = othersKept.keptByEarlier;
  closeExceptions.push(...erasedElsewhere.map((e) => e.id));
  // A purge counts what it newly keeps; an erasure (a closing pass too) everything it keeps.
  const keptCount = purge ? kept.reduce((n, k) => n + k.recordCount, 0) : keptInAll;
  let residual = soFar.residual.reduce((n, r) => n + r.count, 0);
  let residualSets = soFar.residual;
  // A purge run that met nothing (it erased and kept nothing, named no residue: the subject is gone from
  // the system, a run before it took the last of them) keeps what the run before it named residual:
  // that residue is still there, where no run can meet it any more (currentResidualSets).
  const metNothing = purge && erased === 0 && residual === 0 && keptInAll === 0;
  if (metNothing && task.result?.residualSets?.length) {
    residualSets = task.result.residualSets;
    residual = residualSets.reduce((n, r) => n + r.count, 0);
  }
  // The ids of the kept undated records, encrypted before the completion (a KMS call may wrap their keys), stored with it.
  const keptUndatedRows = undatedKept ? await sealKeptUndated(exportTools(services).keys, { requestId: task.requestId, connector: task.connector, taskId: task.id }, undatedKept, now()) : undefined;
  await completeTask(
    ds,
    task,
    options.workerId,
    {
      erased: erased + byFailed,
      ...(soFar.redacted ? { redacted: soFar.redacted } : {}),
      ...(keptCount ? { kept: keptCount } : {}),
      ...(residual ? { residual, residualSets } : {}),
      ...(remaining !== undefined ? { remaining } : {}),
      ...(lines ? { lines } : {}),
      ...(undatedKept ? { keptUndatedIds: undatedKept.reduce((n, k) => n + k.ids.length, 0) } : {}),
      ...(closing ? { closingPass: true } : {}),
      ...(purge
        ? { purgedCategories: metNothing && task.result?.purgedCategories ? task.result.purgedCategories : [...new Set([...instruction.categories, ...residueInstruction.categories].map(String))] }
        : {}),
      ...(purge && (task.result?.residueErased?.length || residueErased.length) ? { residueErased: [...(task.result?.residueErased ?? []), ...residueErased] } : {}),
      // A purge is no claim of the request's: only the erasure's counts say how they are known.
      ...(purge ? {} : { confirmation: remaining === undefined ? ErasureConfirmation.CONNECTOR_REPORT : unreached ? ErasureConfirmation.NOT_REACHED : ErasureConfirmation.READ_BACK }),
      ...(unreached ? { keptByEarlier: unreached } : {}),
    },
    now(),
    // The surveyed ids stay for the closing pass this erasure owes, whose verification looks them up
    // again: without them, residue the closing pass no longer meets by collecting (a dispute whose
    // charge no longer carries the email) would be taken for gone.
    {
      kept,
      closeExceptions,
      within:
        erasedElsewhere.length || residueErased.length || byIdentity.length || beyondIds.length
          ? async (em) => {
              if (erasedElsewhere.length) await auditErasedElsewhere(em, erasedElsewhere, task, now());
              await auditResidueErased(em, task, residueErased, now());
              await auditUndatedByIdentity(em, task, byIdentity, now());
              await auditUndatedBeyondIds(em, task, beyondIds, now());
            }
          : undefined,
      ...(keptUndatedRows ? { keptUndated: keptUndatedRows } : {}),
      dropSurveyed: !purge && (closing || !(await owesClosingPass(ds, task))),
      dropProgress: true,
      handOff: options.handOff,
    },
  );
}

/**
 * A PURGE whose categories are all held now: nothing is erased, and the kept sets stay as they are (the
 * hold keeps them). What its earlier attempts did is still counted: what their units counted, and the
 * work their units left noted (a delete sent without an answer), which the connector settles by reading
 * only, told no category (as an ERASE under a hold is). Before, such a purge completed at once with
 * erased 0, its earlier attempts' counts dropped and their notes ended unread: deletes that had landed
 * were counted by no one. When those attempts erased anything, the held sets are counted again as the
 * system holds them (as a hold placed during a purge's run is): the exceptions said what the deletion
 * kept, 3 auth events, where the hold kept the 1 the failed attempt left.
 */
async function completeHeldPurge(
  services: Services,
  connector: Connector,
  task: TaskRow,
  ids: Identities,
  ctx: TaskContext,
  instruction: ErasureInstruction,
  fence: FencedErasure,
  options: RunOptions,
  signal: AbortSignal,
  keptBy: KeptByDeletion | undefined,
): Promise<void> {
  const { ds, clock } = services;
  let settled = 0;
  try {
    if ((await fence.ctx.unfinishedUnits()).length && connector.erase) settled = (await untilAborted(connector.erase(ids, instruction, fence.ctx), signal)).erased;
  } catch (error) {
    if (!signal.aborted) await fence.end("failed");
    throw error;
  }
  const earlier = await fence.erasedByOthers();
  await fence.end("completing");
  const erased = settled + Object.values(earlier).reduce((n, e) => n + e, 0) + inDoubt(task, fence);
  const recounted = erased > 0 && connector.spec.supports.includes("access") && !connector.spec.manual ? await heldSetsNow(services, connector, task, ids, ctx, instruction, signal, keptBy) : { kept: [], closeExceptions: [] };
  const kept = recounted.kept.reduce((n, k) => n + k.recordCount, 0);
  await completeTask(ds, task, options.workerId, { erased, ...(kept ? { kept } : {}) }, clock.now(), { ...recounted, handOff: options.handOff, dropProgress: true });
}

/**
 * What a PURGE's failed attempts removed of the kept sets beyond their units' counts (failedErasure.goneIn,
 * counted after the failure), in `categories` (all, when not given), but in a category whose notes this
 * run was handed: what a note settled is the connector's count.
 */
function inDoubt(task: TaskRow, fence: FencedErasure, categories?: readonly string[]): number {
  const gone = unsettled(task.result?.failedErasure?.goneIn, fence.notedCategories) ?? {};
  return Object.entries(gone).reduce((n, [category, records]) => n + (!categories || categories.map(String).includes(category) ? records : 0), 0);
}

/**
 * The open exceptions of the request's held categories on this connector, set to what the system holds
 * of what the deletion kept (collected again, bounded by `keptBy`): a category whose sets no longer say
 * what is there has them closed and one set in their place, kept by the hold that covers it.
 */
async function heldSetsNow(
  services: Services,
  connector: Connector,
  task: TaskRow,
  ids: Identities,
  ctx: TaskContext,
  instruction: ErasureInstruction,
  signal: AbortSignal,
  keptBy: KeptByDeletion | undefined,
): Promise<{ kept: KeptException[]; closeExceptions: string[] }> {
  const { ds } = services;
  const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
  const holds = await activeHoldsFor(ds, keptSubjectEmail(request));
  const check = await untilAborted(verifyErasure(connector, ids, ctx, instruction, [], null, keptBy), signal);
  const open = await ds.getRepository(RetentionExceptionRow).findBy({ requestId: task.requestId, connector: task.connector, status: RetentionExceptionStatus.OPEN });
  const kept: KeptException[] = [];
  const closeExceptions: string[] = [];
  for (const category of new Set(open.map((e) => e.category))) {
    if (!holdFor(category, holds)) continue;
    const sets = open.filter((e) => e.category === category);
    const found = check.byCategory[category] ?? 0;
    if (sets.reduce((n, e) => n + e.recordCount, 0) === found) continue;
    closeExceptions.push(...sets.map((e) => e.id));
    kept.push(...holdExceptions([{ category, found }], { holds }, instruction));
  }
  return { kept, closeExceptions };
}

/**
 * Fails the task, loudly and recording nothing as done, when the verification pass found records that
 * nothing keeps and the connector did not name residual; true when it did.
 */
async function failedVerification(services: Services, task: TaskRow, options: RunOptions, ctx: TaskContext, check: Verification, extra: { result?: TaskResult }, counts?: { planned: number; erased: number }): Promise<boolean> {
  const left = Object.entries(check.unexpected);
  if (!left.length) return false;
  const total = left.reduce((n, [, c]) => n + c, 0);
  // Those the person's identities no longer reach: an erase by identity cannot find them, a retry neither.
  const byIdOnly = left.reduce((n, [c, k]) => n + Math.min(k, check.byIdOnly[c] ?? 0), 0);
  const moved = byIdOnly
    ? `; ${byIdOnly} of them no longer found by the person's identities, only by the ids the plan recorded (moved since the plan, as by an address changed meanwhile, or cut off by the erasure): they still hold the person's data`
    : "";
  const tally = counts ? `; the connector reported erasing ${counts.erased} of the ${counts.planned} planned` : "";
  ctx.logger.error({ unexpected: check.unexpected }, "verification after erasure found records outside the retention exceptions");
  await failTask(
    services.ds,
    task,
    options.workerId,
    {
      userMessage: `Verification after erasure found ${total} record(s) still present outside the retention exceptions (${left.map(([c, n]) => `${c}: ${n}`).join(", ")})${moved}${tally}`,
      retryable: false,
      retryInMs: 0,
      ...extra,
    },
    services.clock.now(),
  );
  return true;
}

/**
 * A failed first pass of an ERASE keeps what its ended remote work erased, and the residue it named, on
 * the task row (as a park does): an operator's retryTask starts the erase anew, which no longer finds
 * those records to count them, and may no longer meet that residue. A closing pass keeps its first
 * pass's result as it is.
 */
function settledOf(s: ErasureSoFar, task: TaskRow): { result?: TaskResult } {
  // What an earlier failed run may have erased (failedErasure) stays for the next retry to count.
  const failedErasure = task.result?.failedErasure ? { failedErasure: task.result.failedErasure } : {};
  return s.closingPass || (!Object.keys(s.settled.erasedIn).length && !s.residual.length) ? {} : { result: { erased: s.erased, partial: partialOf(s), ...failedErasure } };
}

/** Whether an identity source's ERASE waits for this one, which then gets a closing pass (the rule of closingPasses.ts, as armClosingPasses applies it). */
async function owesClosingPass(ds: Services["ds"], task: TaskRow): Promise<boolean> {
  const { erases, edges } = await eraseGraph(ds.manager, task.requestId);
  return erasesWaitedFor(erases, edges, (waiter) => waiter.status !== TaskStatus.SKIPPED).some((t) => t.id === task.id);
}

/** On each earlier request whose kept sets a later erasure removed: which request, which connector, how many sets. */
async function auditErasedElsewhere(em: EntityManager, exceptions: readonly RetentionExceptionRow[], task: TaskRow, now: Date): Promise<void> {
  const byRequest = new Map<string, RetentionExceptionRow[]>();
  for (const e of exceptions) byRequest.set(e.requestId, [...(byRequest.get(e.requestId) ?? []), e]);
  for (const [requestId, sets] of byRequest) {
    await appendAuditEvent(
      em,
      { requestId, actor: SYSTEM_ACTOR, action: "retention.erased_by_later_request", details: { byRequest: task.requestId, connector: task.connector, exceptions: sets.length, records: sets.reduce((n, e) => n + e.recordCount, 0) } },
      now,
    );
  }
}

/**
 * After a PURGE attempt failed (for good, or to be retried): what its units confirmed erasing, and what
 * the system still holds of the kept sets it was purging (collected again, bounded to what the deletion
 * kept). What the open exceptions of those categories counted beyond both was removed by the failed
 * attempt (a DELETE committed whose answer was lost): reported erasedInDoubt, and counted erased by the
 * run that ends the purge, once. Before, the retried purge counted only what it found left to erase
 * (701 of the 1,201 rows the table lost in the purge). A count that fails too adds nothing.
 */
async function countPurgeAfterFailure(
  services: Services,
  connector: Connector,
  task: TaskRow,
  ids: Identities,
  ctx: TaskContext,
  signal: AbortSignal,
  error: ConnectorError,
  instruction: ErasureInstruction,
  keptBy: KeptByDeletion | undefined,
): Promise<ConnectorError | ErasureFailed> {
  const { ds, clock } = services;
  try {
    const open = await ds.getRepository(RetentionExceptionRow).findBy({ requestId: task.requestId, connector: task.connector, status: RetentionExceptionStatus.OPEN });
    const check = await untilAborted(verifyErasure(connector, ids, ctx, instruction, [], null, keptBy), signal);
    const confirmed = await erasedByEarlierUnits(ds, task.id);
    const goneIn: Record<string, number> = {};
    for (const category of instruction.categories.map(String)) {
      const said = open.filter((e) => e.category === category).reduce((n, e) => n + e.recordCount, 0);
      const gone = said - (check.byCategory[category] ?? 0) - (confirmed[category] ?? 0);
      if (gone > 0) goneIn[category] = gone;
    }
    return countedFailure(task, ctx, error, confirmed, goneIn, "the kept records", clock.now());
  } catch (failed) {
    ctx.logger.warn({ err: failed }, "what remained after the purge failed could not be counted");
    return error;
  }
}

/** The longest a task waits for its next poll of remote work (as Stripe's redactionPollMs allows). */
const MAX_POLL_MS = 7 * 86_400_000;

/**
 * A remote outcome's pollAfterMs, checked: not a number of ms from 0 (NaN, negative) is a fault of the
 * connector, which fails the task (a poll time no Date can hold crashed the parking; a negative one
 * polled without pause); past 7 days (Infinity included) it is cut to 7 days, and the log says so.
 */
function pollAfterMs(connector: string, ms: unknown, ctx: TaskContext): number {
  if (typeof ms !== "number" || !(ms >= 0)) {
    throw new ConnectorError(`${connector} answered its erasure with a poll time that is not a number of ms from 0 (${String(ms).slice(0, 40)}): a fault of the connector; its remote work was not followed`, `remote.pollAfterMs ${String(ms).slice(0, 40)}`, false);
  }
  if (ms <= MAX_POLL_MS) return ms;
  ctx.logger.warn({ pollAfterMs: ms, cutTo: MAX_POLL_MS }, "remote work asked to be polled after more than 7 days: polled in 7 days");
  return MAX_POLL_MS;
}

/**
 * A connector's error that fails an ERASE attempt, with what was counted after it (TaskResult.failedErasure)
 * for the task row and the words its lastError adds (runner's handleFailure records both).
 */
export class ErasureFailed extends Error {
  constructor(
    readonly error: ConnectorError,
    readonly result: TaskResult,
    readonly said: string,
  ) {
    super(error.message);
    this.name = "ErasureFailed";
  }
}

/**
 * After an ERASE attempt failed (for good, or to be retried): what its units confirmed erasing (every attempt's, and what remote
 * work that ended erased), and what the connector's own count finds of the plan now. The plan's records
 * gone beyond those confirmed may have been erased by the failed attempt (a write that landed, then
 * answered with an error, or a statement committed before its connection dropped): the task reports them
 * (erasedInDoubt), and the next attempt or a retryTask that no longer finds them counts them erased by that attempt, not as
 * records gone outside the service (ERASED_BY_FAILED_ATTEMPT). A count that fails too adds nothing.
 */
async function countAfterFailure(services: Services, connector: Connector, task: TaskRow, ids: Identities, ctx: TaskContext, signal: AbortSignal, error: ConnectorError): Promise<ConnectorError | ErasureFailed> {
  const { ds, clock } = services;
  try {
    const plan = await ds.getRepository(DeletionPlanItemRow).findBy({ requestId: task.requestId, connector: task.connector });
    const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
    const survey = await untilAborted(surveyConnector(connector, ids, ctx, await deletionContextFor(services, request), false), signal);
    const confirmed = addIn(await erasedByEarlierUnits(ds, task.id), task.result?.partial?.settled?.erasedIn ?? {});
    const goneIn: Record<string, number> = {};
    for (const line of plan) {
      const now = survey.lines.filter((l) => String(l.category) === line.category).reduce((n, l) => n + l.found, 0);
      const gone = line.found - now - (confirmed[line.category] ?? 0);
      if (gone > 0) goneIn[line.category] = gone;
    }
    return countedFailure(task, ctx, error, confirmed, goneIn, "the plan", clock.now());
  } catch (failed) {
    ctx.logger.warn({ err: failed }, "what remained after the erasure failed could not be counted");
    return error;
  }
}

/** A failed attempt as counted after it (`of`: what was counted against, the plan or the kept records); the error alone when it erased nothing. */
function countedFailure(task: TaskRow, ctx: TaskContext, error: ConnectorError, confirmed: Record<string, number>, goneIn: Record<string, number>, of: string, now: Date): ConnectorError | ErasureFailed {
  const erased = Object.values(confirmed).reduce((n, x) => n + x, 0);
  const doubt = Object.values(goneIn).reduce((n, x) => n + x, 0);
  if (!erased && !doubt) return error;
  ctx.logger.warn({ erasedIn: confirmed, goneIn }, `counted after the attempt failed: records of ${of} gone that the connector did not confirm erasing`);
  const said = [
    erased ? `${erased} record(s) erased before the failure, as ${task.connector} confirmed` : "",
    doubt ? `${doubt} more of ${of} gone when ${task.connector} counted what remained after it, which this attempt may have erased (its answer was an error): outcome.erasedInDoubt` : "",
  ].filter(Boolean);
  const failedErasure = { erasedIn: confirmed, goneIn, countedAt: now.toISOString() };
  return new ErasureFailed(error, { ...(task.result ?? {}), erased, failedErasure }, `; ${said.join("; ")}`);
}
