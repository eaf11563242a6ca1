import { Connector, ConnectorError, Identities, TaskContext, WriteUndone } from "../connectors/sdk";
import { EntityManager, Not } from "typeorm";
import { TaskStatus } from "../domain/tasks";
import { StoredFieldChange, TaskResult, TaskRow } from "../entities";
import type { Services } from "../services";
import { unitClock } from "./erasureUnits";
import { beginErasureUnit, endCountedUnit, endErasureUnit, leaveUnitInDoubt, writtenByEarlierUnits } from "./holdFence";
import { keptByHoldResult, ManualHold, manualHold } from "./manualHold";
import { Stopped, untilAborted } from "./stopping";
import { Claim, taskRowIs } from "./sql/leaseGuard";
import { pacedHeartbeat } from "./pacedHeartbeat";

/**
 * A correction through a connector, unless a legal hold keeps any of its categories: held data is
 * evidence and stays as it was (a correction is a write, as an erasure is), so the connector is not
 * asked, and every field asked for is reported kept by the hold, with its case references. A connector
 * knows no field's category, so a hold on any of its categories keeps all of its fields. The check and
 * the writes take turns with a hold placement as an erasure's do: units of the hold fence over the
 * connector's categories, whose ends a hold placement waits for, so no write of the connector's may
 * outlive its unit (ctx.unitTimeLeft). Until the connector's first own unit (ctx.eraseUnit) its whole
 * call is one unit; from then on each of its writes is a unit of its own, started only while no hold
 * keeps any of the categories, each with the full time of a unit (a big subject's pages cannot all be
 * written in one). After a unit is refused the connector writes nothing more and names what it left
 * (RectifyOutcome.unfinished): those fields are reported kept by the hold, and the fields it wrote
 * some records of before are reported changed as well. A unit the claim's `also` refuses fails the call (what
 * earlier units wrote stays written): a deletion approved while the correction ran stops its next write.
 */
export async function rectifyUnlessHeld(
  services: Pick<Services, "ds" | "clock">,
  connector: Connector,
  task: TaskRow,
  ids: Identities,
  asked: readonly StoredFieldChange[],
  ctx: TaskContext,
  leaseMs: number,
  /**
   * The attempt's claim: a unit begins only while it holds the task (an attempt past its lease writes
   * nothing) and its `also` holds (a deletion of the person at work: it throws, and nothing more is written).
   */
  claim: Claim,
): Promise<TaskResult> {
  const categories = connector.spec.categories.map(String);
  const owner = { subjectEmail: ids.email, taskId: task.id, requestId: task.requestId, connector: connector.spec.name };
  // Read before this attempt's own units exist: what earlier attempts may have written. Whatever the
  // attempt counter says: an operator's retryTask starts a FAILED task's attempts from 1 again.
  const earlier = await writtenByEarlierUnits(services.ds, task.id);
  const unit = await beginErasureUnit(services, owner, categories, leaseMs, ctx.signal, ctx.heartbeat, null, claim);
  const hold = manualHold(categories, unit.holds);
  if (hold) {
    if (unit.unitId) await endErasureUnit(services.ds, unit.unitId);
    return keptByHoldResult(asked.map((c) => c.field), hold);
  }
  // The unit whose work runs now (the whole call's until the connector's first own unit), and its clock.
  let outer = unit.unitId;
  let running: (() => number) | null = outer ? unitClock(services.clock, unit.expiresAt, leaseMs) : null;
  // The hold that refused a unit: nothing more is written in this call.
  let refused: ManualHold | null = null;
  const paced = pacedHeartbeat(() => ctx.heartbeat(), leaseMs);
  const eraseUnit: TaskContext["eraseUnit"] = async (category, work) => {
    if (outer) {
      running = null;
      await endErasureUnit(services.ds, outer);
      outer = null;
    }
    if (refused) return false;
    // Only while this attempt holds the task (beginErasureUnit's claim): a zombie (its process stalled
    // past the lease) writes no older value over a retry's or a later correction's, nor after its request ended.
    const next = await beginErasureUnit(services, owner, categories, leaseMs, ctx.signal, ctx.heartbeat, null, claim);
    const held = manualHold(categories, next.holds);
    if (held || !next.unitId) {
      if (next.unitId) await endErasureUnit(services.ds, next.unitId);
      refused = held ?? { categories, cases: [], whole: true };
      ctx.logger.info({ categories: refused.categories }, "a legal hold placed while the correction ran keeps what it had not written");
      return false;
    }
    running = unitClock(services.clock, next.expiresAt, leaseMs);
    let wrote: void | number;
    try {
      wrote = await work();
    } catch (error) {
      // Its write may have committed before the throw (an answer lost): the retry and the report must know.
      if (mayHaveWritten(error)) await leaveUnitInDoubt(services.ds, next.unitId, services.clock.now());
      else await endErasureUnit(services.ds, next.unitId);
      throw error;
    } finally {
      running = null;
    }
    // A count is kept with the unit's end: a retry tells its own earlier writes from another person's by it
    // (writtenBefore). Not once the task completed: its completion dropped the counts, none may land after.
    if (typeof wrote === "number" && wrote > 0) {
      if (!(await endCountedUnit(services.ds, next.unitId, { taskId: task.id, category: String(category), erased: wrote }, undefined, (em) => unfinished(em, task.id)))) {
        await endErasureUnit(services.ds, next.unitId);
        throw new Stopped("lease-lost");
      }
    } else await endErasureUnit(services.ds, next.unitId);
    await paced.due();
    return true;
  };
  try {
    // Outside a unit (between the connector's own units) no write has time: it could outlive no fence.
    const outcome = await untilAborted(connector.rectify!(ids, asked, { ...ctx, eraseUnit, writtenBefore: async (category) => earlier.has(String(category)), unitTimeLeft: () => (running ? running() : unit.unitId ? 0 : undefined) }), ctx.signal);
    if (!outcome.unfinished?.length) return { changed: outcome.changed, notHeld: outcome.notHeld };
    if (!refused) throw new ConnectorError(`${connector.spec.name} said it left fields unfinished while no legal hold stopped its correction: the correction cannot be reported done`, `rectify outcome names unfinished fields without a refused unit`, false);
    const stopped: ManualHold = refused;
    return { changed: outcome.changed, notHeld: outcome.notHeld, keptByHold: [...new Set(outcome.unfinished)].sort(), holdCases: stopped.cases, heldCategories: stopped.categories };
  } catch (error) {
    // A call that threw inside its one outer unit may have written too, unless it writes in units of its own only.
    if (outer && !connector.spec.rectifiesInUnits && mayHaveWritten(error)) {
      const inDoubt = outer;
      outer = null;
      await leaveUnitInDoubt(services.ds, inDoubt, services.clock.now());
    }
    throw error;
  } finally {
    if (outer) await endErasureUnit(services.ds, outer);
  }
}

/**
 * Whether a correction's write that threw may still have changed the system: anything but a write known
 * undone (WriteUndone: cut and rolled back) or a refusal. The connector contract has a refusal (a
 * non-retryable ConnectorError) thrown before the write it refuses changed anything; a retryable error,
 * a time-out or an unexpected failure may come after the system applied the write (a connection cut
 * after COMMIT, an answer lost, a 202 whose change lands later).
 */
function mayHaveWritten(error: unknown): boolean {
  if (error instanceof WriteUndone) return false;
  return !(error instanceof ConnectorError) || error.retryable;
}

/**
 * Whether the task has not completed, read in a correction unit's end transaction (UnitGuard; the task
 * row locked on MySQL until commit, so the completion, which drops the task's counts, comes before or
 * after, never between). A unit begun under its attempt's claim may end after the claim was lost: its
 * count still serves a retry yet to read it (writtenBefore), not a task already done.
 */
function unfinished(em: EntityManager, taskId: string): Promise<boolean> {
  return taskRowIs(em, { id: taskId, status: Not(TaskStatus.SUCCEEDED) });
}
