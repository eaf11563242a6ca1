import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, str, ts } from "./columns";

/** The hold fence: a lock row per subject, and the units of erasure under way (see ErasureFenceRow). */
export class HoldFence1764600000000 implements MigrationInterface {
  name = "HoldFence1764600000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "erasure_fences",
        columns: [{ ...str("subjectKey", 64), isPrimary: true }, str("placingCategories", 400, true), ts("placingUntil", true), ts("updatedAt")],
      }),
    );
    await q.createTable(
      new Table({
        name: "erasure_units",
        columns: [{ ...id36("id"), isPrimary: true }, str("subjectKey", 64), id36("taskId"), id36("requestId"), str("connector", 40), str("categories", 400), str("note", 500, true), ts("startedAt"), ts("expiresAt")],
        indices: [
          { name: "idx_erasure_units_subject", columnNames: ["subjectKey"] },
          { name: "idx_erasure_units_task", columnNames: ["taskId"] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("erasure_units");
    await q.dropTable("erasure_fences");
  }
}
