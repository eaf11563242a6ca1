import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, isMysql, str } from "./columns";

/**
 * Sets the length of tasks.remoteReference in place. TypeORM's changeColumn drops and re-adds a MySQL
 * column whose length changes, which would lose the references of tasks polling remote work; SQLite does
 * not enforce varchar lengths, so only MySQL needs the change.
 */
async function widenRemoteReference(q: QueryRunner, length: number): Promise<void> {
  if (isMysql(q)) await q.query(`ALTER TABLE tasks MODIFY remoteReference varchar(${length}) NULL`);
}

/**
 * The counting rule's storage: the records a deletion's survey found in connectors that can look them
 * up by id (the verification pass asks for them again), and room in a task's remote reference for the
 * several redaction jobs one erasure may wait for.
 */
export class Counting1764700000000 implements MigrationInterface {
  name = "Counting1764700000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "surveyed_records",
        columns: [{ ...id36("id"), isPrimary: true }, id36("requestId"), str("connector", 40), str("category", 40), str("recordType", 64), str("recordId", 255), str("disposition", 10)],
        indices: [{ name: "idx_surveyed_records_request", columnNames: ["requestId", "connector"] }],
      }),
    );
    await widenRemoteReference(q, 2000);
  }

  async down(q: QueryRunner): Promise<void> {
    await widenRemoteReference(q, 255);
    await q.dropTable("surveyed_records");
  }
}
