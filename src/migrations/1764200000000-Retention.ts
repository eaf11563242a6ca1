import { MigrationInterface, QueryRunner, Table, TableColumn } from "typeorm";
import { id36, int, str, ts } from "./columns";

/**
 * Retention: the record sets a deletion kept (until when and why), legal holds, the deletion plan each
 * deletion executed; requests about minors, and task priority so their tasks run first.
 */
export class Retention1764200000000 implements MigrationInterface {
  name = "Retention1764200000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "retention_exceptions",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          id36("taskId"),
          str("connector", 40),
          str("category", 40),
          str("recordType", 64),
          int("recordCount"),
          str("legalBasis", 200),
          id36("holdId", true),
          str("redactedFields", 1000, true),
          ts("retainUntil", true),
          str("status", 10),
          ts("createdAt"),
          ts("closedAt", true),
        ],
        indices: [
          { name: "idx_retention_exceptions_request", columnNames: ["requestId"] },
          { name: "idx_retention_exceptions_due", columnNames: ["status", "retainUntil"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "legal_holds",
        columns: [
          { ...id36("id"), isPrimary: true },
          str("subjectEmail", 254),
          str("categories", 400),
          str("reason", 500),
          str("caseReference", 100),
          str("status", 10),
          str("placedBy", 100),
          ts("placedAt"),
          str("releasedBy", 100, true),
          ts("releasedAt", true),
          str("releaseReason", 500, true),
        ],
        indices: [{ name: "idx_legal_holds_subject", columnNames: ["subjectEmail", "status"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "deletion_plan_items",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          str("connector", 40),
          str("category", 40),
          int("found"),
          int("toErase"),
          int("toKeep"),
          str("keptBy", 10, true),
          str("legalBasis", 200, true),
          id36("holdId", true),
          ts("keepSince", true),
          ts("retainUntil", true),
          ts("computedAt"),
        ],
        indices: [{ name: "uq_deletion_plan_items", columnNames: ["requestId", "connector", "category"], isUnique: true }],
      }),
    );
    await q.addColumn("requests", new TableColumn({ name: "concernsMinor", type: "boolean", isNullable: false, default: false }));
    await q.addColumn("tasks", new TableColumn(int("priority", 0)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("tasks", "priority");
    await q.dropColumn("requests", "concernsMinor");
    await q.dropTable("deletion_plan_items");
    await q.dropTable("legal_holds");
    await q.dropTable("retention_exceptions");
  }
}
