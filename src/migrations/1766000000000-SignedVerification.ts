import { MigrationInterface, QueryRunner, TableColumn } from "typeorm";
import { str } from "./columns";

/**
 * A verification that finds the audit trail intact signs its mark (`verifiedSignature`, Ed25519 under
 * the audit key): the next verification starts from the newest mark that key signed, so whoever can
 * write the database cannot choose where verifications start. Marks written before carry no signature
 * and are cleared: the first verification after the upgrade checks everything.
 */
export class SignedVerification1766000000000 implements MigrationInterface {
  name = "SignedVerification1766000000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("audit_checkpoints", new TableColumn(str("verifiedSignature", 128, true)));
    await q.query(`UPDATE audit_checkpoints SET verifiedAt = NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("audit_checkpoints", "verifiedSignature");
  }
}
