import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, int, str } from "./columns";

/**
 * What the units of erasure of each ERASE or PURGE task erased, per category, kept as each unit ends
 * (in the same transaction). A retry after an attempt was killed or handed back part-way starts from
 * these counts, so the records that attempt erased are still counted as erased (not only named as
 * gone before the retry). Rows go when the task completes.
 */
export class ErasureProgress1765100000000 implements MigrationInterface {
  name = "ErasureProgress1765100000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(new Table({ name: "erasure_progress", columns: [{ ...id36("taskId"), isPrimary: true }, { ...str("category", 40), isPrimary: true }, int("erased", 0)] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("erasure_progress");
  }
}
