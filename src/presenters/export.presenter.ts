import { ExportRow } from "../entities";
import { Export } from "../schema/export.type";

/** Storage row -> API shape: the object key and key reference stay behind. */
export function presentExport(row: ExportRow): Export {
  return Object.assign(new Export(), {
    id: row.id,
    storage: row.storage,
    records: row.records,
    files: row.files,
    encryptedBytes: row.encryptedBytes,
    sha256: row.sha256,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
  });
}
