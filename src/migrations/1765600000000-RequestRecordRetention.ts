import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from "typeorm";
import { isMysql, str, ts } from "./columns";

/** The tables whose subjectEmail the record purge removes (NULL) once its retention ends. */
const SUBJECT_TABLES = ["requests", "legal_holds"] as const;

/** subjectEmail NULL or NOT NULL, keeping MySQL's byte-wise collation (SubjectIdentities). */
async function subjectEmailNullable(q: QueryRunner, table: string, nullable: boolean): Promise<void> {
  if (isMysql(q)) {
    await q.query(`ALTER TABLE \`${table}\` MODIFY \`subjectEmail\` VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin ${nullable ? "NULL" : "NOT NULL"}`);
  } else {
    // SQLite cannot alter a column's NOT NULL: TypeORM rebuilds the table with its rows and indices.
    await q.changeColumn(table, "subjectEmail", new TableColumn(str("subjectEmail", 254, nullable)));
  }
}

/**
 * Records of requests and released holds keep the subject's identities for DSR_REQUEST_RECORD_RETENTION_DAYS,
 * then lose them (orchestrator/recordRetention.ts): subjectEmail may be NULL, subjectRemovedAt says when it
 * went, a request keeps the certificate's keyed hash of the address (subjectReference), and an index finds
 * the ended records still holding them, oldest first.
 *
 * down() refuses while a record has lost its email: the older code reads every request as having one.
 */
export class RequestRecordRetention1765600000000 implements MigrationInterface {
  name = "RequestRecordRetention1765600000000";

  async up(q: QueryRunner): Promise<void> {
    for (const table of SUBJECT_TABLES) {
      await subjectEmailNullable(q, table, true);
      await q.addColumn(table, new TableColumn(ts("subjectRemovedAt", true)));
    }
    await q.addColumn("requests", new TableColumn(str("subjectReference", 80, true)));
    await q.createIndex("requests", new TableIndex({ name: "idx_requests_record_purge", columnNames: ["subjectRemovedAt", "closedAt"] }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of SUBJECT_TABLES) {
      const [{ n }] = await q.query(`SELECT COUNT(*) AS n FROM ${table} WHERE subjectEmail IS NULL`);
      if (Number(n) > 0) throw new Error(`${n} ${table} row(s) no longer hold their subject's email (removed after DSR_REQUEST_RECORD_RETENTION_DAYS); the older schema needs one on every row, so this migration cannot be undone`);
    }
    await q.dropIndex("requests", "idx_requests_record_purge");
    await q.dropColumn("requests", "subjectReference");
    for (const table of SUBJECT_TABLES) {
      await q.dropColumn(table, "subjectRemovedAt");
      await subjectEmailNullable(q, table, false);
    }
  }
}
