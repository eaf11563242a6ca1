import { DataSource, In } from "typeorm";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { CollectedRecordRow, TaskRow } from "../entities";

/** Rows read per query: memory stays flat whatever the subject holds. */
export const PAGE_ROWS = 2000;

/** The staged records of one succeeded COLLECT task: those of its last (completing) attempt. */
export interface RecordSource {
  taskId: string;
  attempt: number;
  connector: string;
}

/** What one connector holds in one category. */
export interface SourceCount extends RecordSource {
  category: string;
  records: number;
}

/** A record as the export writes it: where it came from, its type and id, its date, its fields. */
export interface ExportRecord {
  connector: string;
  type: string;
  id: string;
  recordedAt: string | null;
  data: Record<string, unknown>;
}

/** The request's COLLECT tasks, for the manifest (succeeded ones are read; the others are listed with why). */
export async function collectTasks(ds: DataSource, requestId: string): Promise<TaskRow[]> {
  return ds.getRepository(TaskRow).find({ where: { requestId, step: TaskStep.COLLECT }, order: { connector: "ASC" } });
}

/** Record counts per succeeded collect task and category, from the staging table. */
export async function countSources(ds: DataSource, tasks: TaskRow[]): Promise<SourceCount[]> {
  const succeeded = tasks.filter((t) => t.status === TaskStatus.SUCCEEDED);
  const out: SourceCount[] = [];
  for (const t of succeeded) {
    const rows: Array<{ category: string; n: string | number }> = await ds
      .getRepository(CollectedRecordRow)
      .createQueryBuilder("r")
      .select("r.category", "category")
      .addSelect("COUNT(*)", "n")
      .where("r.taskId = :taskId AND r.attempt = :attempt", { taskId: t.id, attempt: t.attempts })
      .groupBy("r.category")
      .getRawMany();
    for (const r of rows) out.push({ taskId: t.id, attempt: t.attempts, connector: t.connector, category: r.category, records: Number(r.n) });
  }
  return out.sort((a, b) => a.category.localeCompare(b.category) || a.connector.localeCompare(b.connector));
}

/** A timestamp as the drivers return it raw (MySQL: Date; SQLite: "YYYY-MM-DD HH:MM:SS.SSS" in UTC), as ISO 8601. */
function isoOf(value: Date | string | null): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  return new Date(`${value.replace(" ", "T")}${/Z|[+-]\d\d:?\d\d$/.test(value) ? "" : "Z"}`).toISOString();
}

/** Streams one category's records from several sources in keyset pages (taskId, attempt, category, id). */
export async function* readRecords(
  ds: DataSource,
  sources: readonly RecordSource[],
  category: string,
  options: { limit?: number; onPage?: () => Promise<void> } = {},
): AsyncGenerator<ExportRecord> {
  let left = options.limit ?? Infinity;
  for (const source of sources) {
    let after = "";
    while (left > 0) {
      // Raw rows: entity hydration cost more than the rest of the export together.
      const page: Array<{ id: string; connector: string; recordType: string; recordId: string; recordedAt: Date | string | null; payload: string }> = await ds.query(
        `SELECT id, connector, recordType, recordId, recordedAt, payload FROM collected_records WHERE taskId = ? AND attempt = ? AND category = ? AND id > ? ORDER BY id LIMIT ${Math.min(PAGE_ROWS, left)}`,
        [source.taskId, source.attempt, category, after],
      );
      for (const row of page) {
        yield { connector: row.connector, type: row.recordType, id: row.recordId, recordedAt: isoOf(row.recordedAt), data: JSON.parse(row.payload) };
      }
      left -= page.length;
      await options.onPage?.();
      if (page.length < PAGE_ROWS) break;
      after = page[page.length - 1].id;
    }
  }
}

/** Deletes a request's staged records in bounded chunks (a million rows in one statement would hold locks too long). */
export async function deleteStagedRecords(ds: DataSource, requestId: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const ids = (await ds.getRepository(CollectedRecordRow).find({ where: { requestId }, select: { id: true }, take: 5000 })).map((r) => r.id);
    if (!ids.length) return deleted;
    await ds.getRepository(CollectedRecordRow).delete({ id: In(ids) });
    deleted += ids.length;
  }
}
