import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, int, str, text, ts } from "./columns";

/**
 * Breach rosters (src/roster): one row per roster asked for, with counts and words only; the list of
 * people lives in an encrypted file in export storage, removed when the row's expiresAt passes.
 */
export class BreachRosters1765500000000 implements MigrationInterface {
  name = "BreachRosters1765500000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "breach_rosters",
        columns: [
          { ...id36("id"), isPrimary: true },
          text("connectors"),
          str("reason", 500),
          str("caseReference", 100, true),
          str("status", 12),
          str("requestedBy", 100),
          str("requestedByRole", 20),
          ts("createdAt"),
          ts("completedAt", true),
          int("attempts", 0),
          str("claimedBy", 100, true),
          ts("leaseExpiresAt", true),
          text("systems", true),
          { ...int("people"), isNullable: true },
          { ...int("withoutEmail"), isNullable: true },
          str("objectKey", 200, true),
          ts("expiresAt", true),
          str("lastError", 500, true),
        ],
        indices: [{ name: "idx_breach_rosters_status", columnNames: ["status", "leaseExpiresAt"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("breach_rosters");
  }
}
