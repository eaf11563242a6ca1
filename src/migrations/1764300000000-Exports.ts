import { MigrationInterface, QueryRunner, Table, TableIndex } from "typeorm";
import { id36, int, str, ts } from "./columns";

/** Stored exports, and the index the export reads staged records through (keyset pages per task and category). */
export class Exports1764300000000 implements MigrationInterface {
  name = "Exports1764300000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "exports",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          id36("taskId"),
          str("storage", 16),
          str("objectKey", 255),
          str("keyRef", 255),
          { name: "encryptedBytes", type: "bigint", isNullable: false },
          int("records"),
          int("files"),
          str("sha256", 64),
          ts("createdAt"),
          ts("expiresAt"),
        ],
        indices: [
          { name: "uq_exports_request", columnNames: ["requestId"], isUnique: true },
          { name: "idx_exports_expires", columnNames: ["expiresAt"] },
        ],
      }),
    );
    await q.createIndex("collected_records", new TableIndex({ name: "idx_collected_records_export", columnNames: ["taskId", "attempt", "category", "id"] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("collected_records", "idx_collected_records_export");
    await q.dropTable("exports");
  }
}
