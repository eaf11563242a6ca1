import { MigrationInterface, QueryRunner, Table, TableColumn } from "typeorm";
import { id36, str } from "./columns";

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
    await q.changeColumn("tasks", "remoteReference", new TableColumn(str("remoteReference", 2000, true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.changeColumn("tasks", "remoteReference", new TableColumn(str("remoteReference", 255, true)));
    await q.dropTable("surveyed_records");
  }
}
