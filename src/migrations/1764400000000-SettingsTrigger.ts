import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from "typeorm";
import { id36, int, str, text, ts } from "./columns";

/** The settings page's account deletion: idempotency keys on requests, and the outbox of signed status callbacks. */
export class SettingsTrigger1764400000000 implements MigrationInterface {
  name = "SettingsTrigger1764400000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("requests", new TableColumn(str("idempotencyKey", 100, true)));
    // Unique: concurrent calls with one key race on this index, and the loser returns the winner's request.
    await q.createIndex("requests", new TableIndex({ name: "uq_requests_idempotency_key", columnNames: ["idempotencyKey"], isUnique: true }));
    await q.createTable(
      new Table({
        name: "status_callbacks",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          int("requestVersion"),
          text("payload"),
          str("status", 12),
          int("attempts", 0),
          ts("nextAttemptAt"),
          str("claimedBy", 100, true),
          str("lastError", 500, true),
          ts("createdAt"),
          ts("deliveredAt", true),
        ],
        indices: [
          { name: "uq_status_callbacks_request_version", columnNames: ["requestId", "requestVersion"], isUnique: true },
          { name: "idx_status_callbacks_due", columnNames: ["status", "nextAttemptAt"] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("status_callbacks");
    await q.dropIndex("requests", "uq_requests_idempotency_key");
    await q.dropColumn("requests", "idempotencyKey");
  }
}
