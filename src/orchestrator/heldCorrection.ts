import { Connector, Identities, TaskContext } from "../connectors/sdk";
import { StoredFieldChange, TaskResult, TaskRow } from "../entities";
import type { Services } from "../services";
import { unitClock } from "./erasureUnits";
import { beginErasureUnit, endErasureUnit } from "./holdFence";
import { keptByHoldResult, manualHold } from "./manualHold";
import { untilAborted } from "./stopping";

/**
 * A correction through a connector, unless a legal hold keeps any of its categories: held data is
 * evidence and stays as it was (a correction is a write, as an erasure is), so the connector is not
 * asked, and every field asked for is reported kept by the hold, with its case references. A connector
 * knows no field's category, so a hold on any of its categories keeps all of its fields. The check and
 * the write take turns with a hold placement as an erasure's do (a unit of the hold fence over the
 * connector's categories): a hold placement waits for it to end, so no write of the connector's may
 * outlive it (ctx.unitTimeLeft, as an erasure's units give).
 */
export async function rectifyUnlessHeld(
  services: Pick<Services, "ds" | "clock">,
  connector: Connector,
  task: TaskRow,
  ids: Identities,
  asked: readonly StoredFieldChange[],
  ctx: TaskContext,
  leaseMs: number,
): Promise<TaskResult> {
  const categories = connector.spec.categories.map(String);
  const owner = { subjectEmail: ids.email, taskId: task.id, requestId: task.requestId, connector: connector.spec.name };
  const unit = await beginErasureUnit(services, owner, categories, leaseMs, ctx.signal, ctx.heartbeat);
  const hold = manualHold(categories, unit.holds);
  if (hold) {
    if (unit.unitId) await endErasureUnit(services.ds, unit.unitId);
    return keptByHoldResult(asked.map((c) => c.field), hold);
  }
  try {
    const unitTimeLeft = unit.unitId ? unitClock(services.clock, unit.expiresAt, leaseMs) : undefined;
    return await untilAborted(connector.rectify!(ids, asked, { ...ctx, unitTimeLeft }), ctx.signal);
  } finally {
    if (unit.unitId) await endErasureUnit(services.ds, unit.unitId);
  }
}
