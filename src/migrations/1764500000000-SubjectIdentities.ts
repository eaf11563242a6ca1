import { MigrationInterface, QueryRunner, TableColumn } from "typeorm";
import { isMysql, str } from "./columns";

/** Columns that hold identities in matching form: compared byte for byte, never by a collation's rules. */
const MATCHING_COLUMNS: [table: string, column: string, length: number][] = [
  ["requests", "subjectEmail", 254],
  ["legal_holds", "subjectEmail", 254],
];

/**
 * Typed identities: the email as the person typed it (requests.subjectEmail stays the matching form),
 * room for `external:<system>` identity kinds, and the identities of requests made before external ids
 * had their own namespace rebuilt from the request (an external id named like a kind had overwritten it).
 * On MySQL/MariaDB the matching columns become utf8mb4_bin: the server's _ci collations also ignore
 * accents, which would make jose@ and josé@ one person.
 */
export class SubjectIdentities1764500000000 implements MigrationInterface {
  name = "SubjectIdentities1764500000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("requests", new TableColumn(str("subjectEmailAsTyped", 254, true)));
    if (isMysql(q)) {
      // "external:" (9) + a system of up to 32 characters. MODIFY keeps the primary key as it is (TypeORM's
      // changeColumn rebuilds it through a key on requestId alone, which rows already there violate);
      // SQLite does not enforce VARCHAR lengths.
      await q.query(`ALTER TABLE \`request_identities\` MODIFY \`kind\` VARCHAR(48) NOT NULL`);
      for (const [table, column, length] of MATCHING_COLUMNS) {
        await q.query(`ALTER TABLE \`${table}\` MODIFY \`${column}\` VARCHAR(${length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`);
      }
    }
    const requests: { id: string; subjectEmail: string; subjectUserId: string | null; subjectPhone: string | null; subjectExternalIds: string | null }[] = await q.query(
      `SELECT id, subjectEmail, subjectUserId, subjectPhone, subjectExternalIds FROM requests WHERE subjectExternalIds IS NOT NULL`,
    );
    for (const r of requests) {
      const planned: { n: number }[] = await q.query(`SELECT COUNT(*) AS n FROM request_identities WHERE requestId = ? AND source = 'request'`, [r.id]);
      if (!Number(planned[0]?.n)) continue;
      const ids: Record<string, string> = { email: r.subjectEmail };
      if (r.subjectUserId) ids.userId = r.subjectUserId;
      if (r.subjectPhone) ids.phone = r.subjectPhone;
      for (const e of JSON.parse(r.subjectExternalIds ?? "[]") as { system: string; id: string }[]) ids[`external:${e.system}`] = e.id;
      // Kinds a resolver found stay; what the request itself gave is written again, in its own namespace.
      await q.query(`DELETE FROM request_identities WHERE requestId = ? AND (source = 'request' OR kind IN (${Object.keys(ids).map(() => "?").join(", ")}))`, [r.id, ...Object.keys(ids)]);
      for (const [kind, value] of Object.entries(ids)) {
        await q.query(`INSERT INTO request_identities (requestId, kind, value, source) VALUES (?, ?, ?, 'request')`, [r.id, kind, value]);
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM request_identities WHERE kind LIKE 'external:%'`);
    if (isMysql(q)) {
      for (const [table, column, length] of MATCHING_COLUMNS) await q.query(`ALTER TABLE \`${table}\` MODIFY \`${column}\` VARCHAR(${length}) NOT NULL`);
      await q.query(`ALTER TABLE \`request_identities\` MODIFY \`kind\` VARCHAR(40) NOT NULL`);
    }
    await q.dropColumn("requests", "subjectEmailAsTyped");
  }
}
