import { MigrationInterface, QueryRunner } from "typeorm";
import { hashedEmailKey, normalizeEmail } from "../domain/identities";
import { isMysql } from "./columns";

/** Rows whose stored email holds an internationalised domain: `xn--` labels, or any character outside ASCII. */
function mayChange(q: QueryRunner, column: string): string {
  const c = isMysql(q) ? `\`${column}\`` : `"${column}"`;
  const nonAscii = isMysql(q) ? `LENGTH(${c}) <> CHAR_LENGTH(${c})` : `length(CAST(${c} AS BLOB)) <> length(${c})`;
  return `(${c} LIKE '%xn--%' OR ${nonAscii})`;
}

/**
 * Emails in matching form now carry an internationalised domain in one form, IDNA's Unicode one
 * (normalizeEmail): `ada@xn--bcher-kva.de` and `ada@bücher.de`, one mailbox, were two subjects, so a
 * hold placed under one spelling did not keep the data of a request made under the other. Every stored
 * matching form is rewritten: requests, the email identity of their plans, legal holds, and the hold
 * fence's subject keys (hashes of the address). Only rows that can change are read: lower-case ASCII
 * addresses without `xn--` labels are already in the new form.
 *
 * down() changes nothing: the rewritten values are valid addresses the older code matches as typed (a
 * request typed in ASCII form after a downgrade would again miss them, as before this migration).
 */
export class EmailDomainForm1765300000000 implements MigrationInterface {
  name = "EmailDomainForm1765300000000";

  async up(q: QueryRunner): Promise<void> {
    const moved = new Map<string, string>();
    const rewrite = async (table: string, key: string[], column: string, where = "") => {
      const rows: Record<string, string>[] = await q.query(`SELECT ${[...key, column].join(", ")} FROM ${table} WHERE ${where}${mayChange(q, column)}`);
      for (const row of rows) {
        const now = normalizeEmail(row[column]);
        if (now === row[column]) continue;
        moved.set(row[column], now);
        await q.query(`UPDATE ${table} SET ${column} = ? WHERE ${key.map((k) => `${k} = ?`).join(" AND ")}`, [now, ...key.map((k) => row[k])]);
      }
    };
    await rewrite("requests", ["id"], "subjectEmail");
    await rewrite("legal_holds", ["id"], "subjectEmail");
    await rewrite("request_identities", ["requestId", "kind"], "value", "kind = 'email' AND ");
    // The fence keys the subject by a hash of the matching form: units under way and placement markers
    // move to the new key (a marker already there for the new key wins; the old one is a leftover).
    for (const [before, after] of moved) {
      const [from, to] = [hashedEmailKey(before), hashedEmailKey(after)];
      await q.query(`UPDATE erasure_units SET subjectKey = ? WHERE subjectKey = ?`, [to, from]);
      const taken: unknown[] = await q.query(`SELECT subjectKey FROM erasure_fences WHERE subjectKey = ?`, [to]);
      await q.query(taken.length ? `DELETE FROM erasure_fences WHERE subjectKey = ?` : `UPDATE erasure_fences SET subjectKey = ? WHERE subjectKey = ?`, taken.length ? [from] : [to, from]);
    }
  }

  async down(): Promise<void> {
    // See the class comment: nothing to undo.
  }
}
