import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { blob, id36, int, str, text, ts } from "./columns";


/**
 * Staged records become encrypted batches (staged_batches) under a per-request wrapped key
 * (staged_keys); the plaintext collected_records table goes. Rows still in it at upgrade time are
 * dropped with it: an export waiting for them fails its count check and names the COLLECT to retry.
 */
export class EncryptedStaging1764800000000 implements MigrationInterface {
  name = "EncryptedStaging1764800000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "staged_batches",
        columns: [
          { ...id36("id"), isPrimary: true },
          id36("requestId"),
          id36("taskId"),
          int("attempt"),
          str("connector", 40),
          str("category", 40),
          int("seq"),
          int("records"),
          blob(q, "payload"),
          ts("createdAt"),
        ],
        indices: [
          { name: "uq_staged_batches_position", columnNames: ["taskId", "attempt", "category", "seq"], isUnique: true },
          { name: "idx_staged_batches_request", columnNames: ["requestId"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "staged_keys",
        columns: [{ ...id36("requestId"), isPrimary: true }, int("wrapping"), str("keyRef", 255), blob(q, "wrappedKey"), ts("createdAt")],
      }),
    );
    await q.dropTable("collected_records");
  }

  async down(q: QueryRunner): Promise<void> {
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
          { name: "idx_collected_records_export", columnNames: ["taskId", "attempt", "category", "id"] },
        ],
      }),
    );
    await q.dropTable("staged_keys");
    await q.dropTable("staged_batches");
  }
}
