import { randomUUID } from "node:crypto";
import { MigrationInterface, QueryRunner, Table } from "typeorm";
import type { RecordRef } from "../connectors/sdk";
import { SurveyedIdsRow } from "../entities";
import { insertSealed } from "../export/sealedIds";
import { SURVEYED_BATCH, sealSurveyed, surveyedPages } from "../orchestrator/surveyedIds";
import { id36, sealedIdsColumns, str } from "./columns";
import { dataKeysOf } from "./dataKeys";

interface Owner {
  requestId: string;
  connector: string;
}

/**
 * A deletion's surveyed record ids leave surveyed_records (one row per id, in the clear: an id may be an
 * address) for surveyed_ids: encrypted, in batches (surveyedIds.ts). The ids the survey planned to erase
 * move (encrypted with the configured keys: `dsr migrate` and the service lend them); those it planned
 * to keep go, since nothing reads them. Read a batch at a time, never a whole table.
 */
export class EncryptedSurveyedIds1768300000000 implements MigrationInterface {
  name = "EncryptedSurveyedIds1768300000000";

  async up(q: QueryRunner): Promise<void> {
    const owners: Owner[] = await q.query(`SELECT DISTINCT requestId, connector FROM surveyed_records WHERE disposition = 'ERASE' ORDER BY requestId, connector`);
    // Stops before anything is made when ids are to be encrypted and no keys were lent (on MySQL a
    // CREATE TABLE commits at once). A run that failed later finds the table and fills it again.
    const keys = owners.length ? dataKeysOf(q.connection) : null;
    if (await q.hasTable("surveyed_ids")) await q.query(`DELETE FROM surveyed_ids`);
    else {
      await q.createTable(
        new Table({
          name: "surveyed_ids",
          columns: sealedIdsColumns(q, []),
          indices: [{ name: "uq_surveyed_ids_position", columnNames: ["requestId", "connector", "seq"], isUnique: true }],
        }),
      );
    }
    const now = new Date();
    for (const owner of owners) {
      let seq = 0;
      for (let after = ""; ; ) {
        const rows: { id: string; category: string; recordType: string; recordId: string }[] = await q.query(
          `SELECT id, category, recordType, recordId FROM surveyed_records WHERE requestId = ? AND connector = ? AND disposition = 'ERASE' AND id > ? ORDER BY id LIMIT ${SURVEYED_BATCH}`,
          [owner.requestId, owner.connector, after],
        );
        if (!rows.length) break;
        const refs = rows.map((r): RecordRef => ({ category: r.category, type: r.recordType, id: r.recordId }));
        const [batch] = await sealSurveyed(keys!, owner, refs, now, seq++);
        await insertSealed(q.manager, SurveyedIdsRow, [batch]);
        after = rows[rows.length - 1].id;
        if (rows.length < SURVEYED_BATCH) break;
      }
    }
    await q.dropTable("surveyed_records");
  }

  /** Back into surveyed_records, one row per id, in the clear, as then (all planned to be erased). */
  async down(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "surveyed_records",
        columns: [{ ...id36("id"), isPrimary: true }, id36("requestId"), str("connector", 40), str("category", 40), str("recordType", 64), str("recordId", 255), str("disposition", 10)],
        indices: [{ name: "idx_surveyed_records_request", columnNames: ["requestId", "connector"] }],
      }),
    );
    const owners: Owner[] = await q.query(`SELECT DISTINCT requestId, connector FROM surveyed_ids ORDER BY requestId, connector`);
    const keys = owners.length ? dataKeysOf(q.connection) : null;
    for (const owner of owners) {
      for await (const all of surveyedPages(q.manager, keys!, owner)) {
        // The old table held the ids of records planned to erase only.
        const page = all.filter((r) => !r.kept);
        for (let i = 0; i < page.length; i += 100) {
          const part = page.slice(i, i + 100);
          await q.query(
            `INSERT INTO surveyed_records (id, requestId, connector, category, recordType, recordId, disposition) VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, 'ERASE')").join(", ")}`,
            part.flatMap((r) => [randomUUID(), owner.requestId, owner.connector, String(r.category), r.type, r.id.slice(0, 255)]),
          );
        }
      }
    }
    await q.dropTable("surveyed_ids");
  }
}
