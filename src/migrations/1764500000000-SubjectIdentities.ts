import { MigrationInterface, QueryRunner, TableColumn } from "typeorm";
import { str } from "./columns";

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
    // "external:" (9) + a system of up to 32 characters.
    await q.changeColumn("request_identities", "kind", new TableColumn({ ...str("kind", 48), isPrimary: true }));
    if (q.connection.options.type === "mysql" || q.connection.options.type === "mariadb") {
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
    if (q.connection.options.type === "mysql" || q.connection.options.type === "mariadb") {
      for (const [table, column, length] of MATCHING_COLUMNS) await q.query(`ALTER TABLE \`${table}\` MODIFY \`${column}\` VARCHAR(${length}) NOT NULL`);
    }
    await q.query(`DELETE FROM request_identities WHERE kind LIKE 'external:%'`);
    await q.changeColumn("request_identities", "kind", new TableColumn({ ...str("kind", 40), isPrimary: true }));
    await q.dropColumn("requests", "subjectEmailAsTyped");
  }
}
