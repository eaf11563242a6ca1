import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * The record purge now clears the free text people wrote on a request (verificationEvidence,
 * statusReason, extensionReason) and on a released hold (reason, releaseReason) with its subject
 * (orchestrator/recordRetention.ts). Records an earlier version had already cleared are never due again
 * (subjectRemovedAt is set): their text goes here, in the same way.
 *
 * down() changes nothing: the older code reads these columns as they now are (null, or an empty reason).
 */
export class ClearedRecordsFreeText1769400000000 implements MigrationInterface {
  name = "ClearedRecordsFreeText1769400000000";

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE requests SET verificationEvidence = NULL, statusReason = NULL, extensionReason = NULL WHERE subjectRemovedAt IS NOT NULL`);
    await q.query(`UPDATE legal_holds SET reason = '', releaseReason = NULL WHERE subjectRemovedAt IS NOT NULL`);
  }

  async down(): Promise<void> {
    // Removed text is not brought back.
  }
}
