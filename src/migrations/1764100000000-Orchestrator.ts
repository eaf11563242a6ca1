import { MigrationInterface, QueryRunner, Table, TableColumn } from "typeorm";
import { id36, int, str, text, ts } from "./columns";

/** Tasks with leases and dependencies, discovered identities, staged records, duplicate links. */
export class Orchestrator1764100000000 implements MigrationInterface {
  name = "Orchestrator1764100000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "tasks",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          str("connector", 40),
          str("step", 16),
          str("status", 24),
          int("waitingFor", 0),
          int("attempts", 0),
          int("maxAttempts"),
          ts("runAfter"),
          str("lockedBy", 100, true),
          ts("leaseExpiresAt", true),
          str("lastError", 1000, true),
          str("note", 1000, true),
          str("remoteReference", 255, true),
          text("result", true),
          str("idempotencyKey", 100),
          ts("createdAt"),
          ts("startedAt", true),
          ts("finishedAt", true),
          ts("updatedAt"),
        ],
        indices: [
          { name: "uq_tasks_request_connector_step", columnNames: ["requestId", "connector", "step"], isUnique: true },
          { name: "idx_tasks_claim", columnNames: ["status", "waitingFor", "runAfter"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "task_dependencies",
        columns: [
          { ...id36("taskId"), isPrimary: true },
          { ...id36("dependsOnTaskId"), isPrimary: true },
        ],
        indices: [{ name: "idx_task_dependencies_on", columnNames: ["dependsOnTaskId"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "request_identities",
        columns: [{ ...id36("requestId"), isPrimary: true }, { ...str("kind", 40), isPrimary: true }, str("value", 320), str("source", 40)],
      }),
    );
    await q.createTable(
      new Table({
        name: "collected_records",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          id36("taskId"),
          int("attempt"),
          str("connector", 40),
          str("category", 40),
          str("recordType", 64),
          str("recordId", 255),
          ts("recordedAt", true),
          text("payload"),
        ],
        indices: [
          { name: "idx_collected_records_task", columnNames: ["taskId", "attempt"] },
          { name: "idx_collected_records_request", columnNames: ["requestId"] },
        ],
      }),
    );
    await q.addColumn("requests", new TableColumn(id36("duplicateOf", true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("requests", "duplicateOf");
    for (const table of ["collected_records", "request_identities", "task_dependencies", "tasks"]) await q.dropTable(table);
  }
}
