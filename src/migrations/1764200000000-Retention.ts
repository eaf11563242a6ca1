import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, int, str, ts } from "./columns";

/** Retention exceptions: the record sets a deletion kept, until when and why. */
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
          str("redactedFields", 1000, true),
          ts("retainUntil"),
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
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("retention_exceptions");
  }
}
