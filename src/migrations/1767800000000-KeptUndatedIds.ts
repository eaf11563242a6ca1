import { MigrationInterface, QueryRunner, Table } from "typeorm";
import type { KeptIds } from "../domain/counting";
import { perSet } from "../domain/multiMap";
import { KeptUndatedRow } from "../entities";
import { keptUndatedPages, sealKeptUndated } from "../orchestrator/keptUndatedIds";
import { id36, sealedIdsColumns, str } from "./columns";
import { dataKeysOf } from "./dataKeys";


/** The characters of ids (as JSON) an ERASE's result held before this migration (down() keeps to it). */
const OLD_CAP_CHARS = 16_000;

interface ErasedRow {
  id: string;
  requestId: string;
  connector: string;
  result: string;
}

/**
 * The ids of the records a deletion kept without a date leave the ERASE task's result (plain JSON,
 * capped at 16,000 characters) for kept_undated_ids: encrypted, in batches, uncapped. Ids of categories
 * with an open retention exception move (encrypted with the configured keys: `dsr migrate` and the
 * service lend them); the others' purpose had ended, and they go. The result keeps their count
 * (keptUndatedIds), which tells the purge to erase undated records by id.
 */
export class KeptUndatedIds1767800000000 implements MigrationInterface {
  name = "KeptUndatedIds1767800000000";

  async up(q: QueryRunner): Promise<void> {
    // Everything that can fail (no keys lent, a KMS refusal) before the table is made: on MySQL a
    // CREATE TABLE commits at once, and a migration that failed after it could not be run again.
    const erases: ErasedRow[] = await q.query(`SELECT id, requestId, connector, result FROM tasks WHERE step = 'ERASE' AND result LIKE '%"keptUndated":%'`);
    const moves: { erase: ErasedRow; result: { keptUndated?: KeptIds[]; keptUndatedIds?: number }; rows: KeptUndatedRow[] }[] = [];
    for (const erase of erases) {
      const result = JSON.parse(erase.result) as { keptUndated?: KeptIds[]; keptUndatedIds?: number };
      const open = new Set(
        ((await q.query(`SELECT DISTINCT category FROM retention_exceptions WHERE requestId = ? AND connector = ? AND status = 'OPEN'`, [erase.requestId, erase.connector])) as { category: string }[]).map((r) => r.category),
      );
      const sets = (result.keptUndated ?? []).filter((k) => open.has(k.category) && k.ids.length);
      const rows = sets.length ? await sealKeptUndated(dataKeysOf(q.connection), { requestId: erase.requestId, connector: erase.connector, taskId: erase.id }, sets, new Date()) : [];
      delete result.keptUndated;
      result.keptUndatedIds = sets.reduce((n, k) => n + k.ids.length, 0);
      moves.push({ erase, result, rows });
    }
    await q.createTable(
      new Table({
        name: "kept_undated_ids",
        columns: sealedIdsColumns(q, [id36("taskId"), str("category", 40), str("recordType", 64)]),
        indices: [{ name: "uq_kept_undated_ids_position", columnNames: ["requestId", "connector", "seq"], isUnique: true }],
      }),
    );
    for (const { erase, result, rows } of moves) {
      for (let i = 0; i < rows.length; i += 8) await q.manager.getRepository(KeptUndatedRow).insert(rows.slice(i, i + 8));
      await q.query(`UPDATE tasks SET result = ? WHERE id = ?`, [JSON.stringify(result), erase.id]);
    }
  }

  /** Back into the result, as much as its 16,000 characters held (the rest counted per set, keptUndatedBeyond, as then). */
  async down(q: QueryRunner): Promise<void> {
    const erases: ErasedRow[] = await q.query(`SELECT id, requestId, connector, result FROM tasks WHERE step = 'ERASE' AND result LIKE '%"keptUndatedIds":%'`);
    for (const erase of erases) {
      const result = JSON.parse(erase.result) as { keptUndated?: KeptIds[]; keptUndatedIds?: number; keptUndatedBeyond?: { category: string; type: string; count: number }[] };
      const pages = result.keptUndatedIds ? await keptUndatedPages(q.manager, dataKeysOf(q.connection), erase) : [];
      let chars = 0;
      const fits = pages.flat().map((r) => ({ ...r, fits: (chars += r.id.length + 3) <= OLD_CAP_CHARS }));
      result.keptUndated = perSet(
        fits.filter((r) => r.fits),
        (r) => ({ category: String(r.category), type: r.type, ids: [] as string[] }),
        (set, r) => void set.ids.push(r.id),
      );
      const beyond = perSet(
        fits.filter((r) => !r.fits),
        (r) => ({ category: String(r.category), type: r.type, count: 0 }),
        (set) => void (set.count += 1),
      );
      if (beyond.length) result.keptUndatedBeyond = [...(result.keptUndatedBeyond ?? []), ...beyond];
      delete result.keptUndatedIds;
      await q.query(`UPDATE tasks SET result = ? WHERE id = ?`, [JSON.stringify(result), erase.id]);
    }
    await q.dropTable("kept_undated_ids");
  }
}
