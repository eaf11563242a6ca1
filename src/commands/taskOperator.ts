import { Actor } from "../audit/actor";
import { inTransaction } from "../db/transaction";
import { exportTools } from "../export/context";
import { TaskRow } from "../entities";
import { badField } from "../errors";
import { completeManualTask, ManualCompletion } from "../orchestrator/sql/completeManualTask";
import { retryTask } from "../orchestrator/sql/retryTask";
import { Services } from "../services";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkId(id: string): string {
  if (!UUID.test(id)) throw badField("id", "id must be a task id (a UUID)");
  return id.toLowerCase();
}

/** Operator: re-queue a FAILED task (and what its failure skipped); reopens a FAILED request. */
export async function retryFailedTask(services: Services, actor: Actor, id: string): Promise<TaskRow> {
  const task = await inTransaction(services.ds, (em) => retryTask(em, checkId(id), actor, services.clock.now(), services.config.DSR_STAGED_GRACE_MINUTES, services.config.DSR_MANUAL_TASK_GRACE_DAYS));
  services.wakeWorkers();
  return task;
}

/** Privacy officer: finish a manual task with what they found or erased. */
export async function completeTaskByHand(services: Services, actor: Actor, id: string, input: ManualCompletion): Promise<TaskRow> {
  const task = await inTransaction(services.ds, (em) => completeManualTask(em, checkId(id), input, actor, services.clock.now(), exportTools(services).keys, categoriesOf(services)));
  services.wakeWorkers();
  return task;
}

/** A registered connector's categories (none for one no longer registered). */
const categoriesOf = (services: Services) => (connector: string) => (services.connectors.get(connector)?.spec.categories ?? []).map(String);
