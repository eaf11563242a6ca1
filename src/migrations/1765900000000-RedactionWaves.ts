import { MigrationInterface, QueryRunner } from "typeorm";
import { isMysql } from "./columns";

/** The length tasks.remoteReference had before (Counting1764700000000). */
const BEFORE = 2000;

/**
 * A task's remote reference holds, beside the redaction jobs at work, the objects waiting for a job
 * (an erasure gives them jobs in waves as earlier ones end): no longer bounded by 2,000 characters.
 * MySQL keeps it as MEDIUMTEXT, changed in place (TypeORM's changeColumn would drop and re-add it, losing
 * the references of tasks polling remote work); SQLite does not enforce varchar lengths. down() refuses
 * while a reference is longer than the old column takes, instead of cutting it (the waiting objects
 * would then never get a job, and the erasure would report them redacted by no one).
 */
export class RedactionWaves1765900000000 implements MigrationInterface {
  name = "RedactionWaves1765900000000";

  async up(q: QueryRunner): Promise<void> {
    if (isMysql(q)) await q.query(`ALTER TABLE tasks MODIFY remoteReference mediumtext NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    const [{ n }] = await q.query(`SELECT COUNT(*) AS n FROM tasks WHERE LENGTH(remoteReference) > ${BEFORE}`);
    if (Number(n) > 0) throw new Error(`RedactionWaves down: ${Number(n)} task(s) poll remote work whose reference is longer than ${BEFORE} characters; let them finish first`);
    if (isMysql(q)) await q.query(`ALTER TABLE tasks MODIFY remoteReference varchar(${BEFORE}) NULL`);
  }
}
