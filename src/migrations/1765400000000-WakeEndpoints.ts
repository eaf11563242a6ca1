import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { int, str, ts } from "./columns";

/**
 * The workers that can be woken across processes (src/orchestrator/wake.ts): one row per worker
 * process on MySQL, with the UDP address it listens on and when it last said it was there. Nothing
 * personal, nothing that must outlive the process: a crashed worker's row ages out.
 */
export class WakeEndpoints1765400000000 implements MigrationInterface {
  name = "WakeEndpoints1765400000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "wake_endpoints",
        columns: [{ ...str("workerId", 100), isPrimary: true }, str("host", 253), int("port"), ts("seenAt")],
        indices: [{ name: "idx_wake_endpoints_seen", columnNames: ["seenAt"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("wake_endpoints");
  }
}
