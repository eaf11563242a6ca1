import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from "typeorm";
import { int } from "./columns";

/**
 * Claims that take only what they claim. The claim reads one status at a time in (priority DESC,
 * runAfter) order: an index in exactly that order lets InnoDB walk to the first free row instead of
 * sorting, and locking, every runnable one. The sweeper finds expired leases by (status,
 * leaseExpiresAt). Every claim bumps `leaseToken`, the fencing token its guarded writes carry.
 */
export class ClaimOrder1764900000000 implements MigrationInterface {
  name = "ClaimOrder1764900000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("tasks", new TableColumn(int("leaseToken", 0)));
    await q.dropIndex("tasks", "idx_tasks_claim");
    // TypeORM's TableIndex has no descending columns: the one DESC key is written by hand (SQLite,
    // MariaDB >= 10.8 and MySQL 8 all honour it; a mixed-direction ORDER BY needs it to avoid a sort).
    const name = (c: string) => q.connection.driver.escape(c);
    await q.query(`CREATE INDEX ${name("idx_tasks_claim_order")} ON ${name("tasks")} (${name("status")}, ${name("waitingFor")}, ${name("priority")} DESC, ${name("runAfter")})`);
    await q.createIndex("tasks", new TableIndex({ name: "idx_tasks_lease", columnNames: ["status", "leaseExpiresAt"] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("tasks", "idx_tasks_lease");
    await q.dropIndex("tasks", "idx_tasks_claim_order");
    await q.createIndex("tasks", new TableIndex({ name: "idx_tasks_claim", columnNames: ["status", "waitingFor", "runAfter"] }));
    await q.dropColumn("tasks", "leaseToken");
  }
}
