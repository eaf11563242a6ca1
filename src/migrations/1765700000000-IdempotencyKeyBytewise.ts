import { MigrationInterface, QueryRunner } from "typeorm";
import { isMysql } from "./columns";

/**
 * requests.idempotencyKey is compared byte for byte on MySQL/MariaDB, as it always was on SQLite: under
 * the server's _ci collation `del-7f3A` and `del-7f3a` were one key, so the second person's deletion was
 * refused as "a key used for a different subject" (or answered with the first one's request). The unique
 * index stays; a byte-wise collation only tells more keys apart, so no row can violate it.
 *
 * down() refuses while two keys differ only in case: the older collation would take them for one.
 */
export class IdempotencyKeyBytewise1765700000000 implements MigrationInterface {
  name = "IdempotencyKeyBytewise1765700000000";

  async up(q: QueryRunner): Promise<void> {
    if (isMysql(q)) await q.query("ALTER TABLE `requests` MODIFY `idempotencyKey` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL");
  }

  async down(q: QueryRunner): Promise<void> {
    if (!isMysql(q)) return;
    const [{ n }] = await q.query("SELECT COUNT(*) AS n FROM (SELECT LOWER(idempotencyKey) AS k FROM requests WHERE idempotencyKey IS NOT NULL GROUP BY LOWER(idempotencyKey) HAVING COUNT(*) > 1) AS same");
    if (Number(n) > 0) throw new Error(`${n} idempotency key(s) are held by several requests in different cases; the older schema compares keys without case, so this migration cannot be undone`);
    await q.query("ALTER TABLE `requests` MODIFY `idempotencyKey` VARCHAR(100) NULL");
  }
}
