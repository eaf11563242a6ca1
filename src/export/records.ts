import { DataSource, LessThan, MoreThan } from "typeorm";
import { ConnectorError } from "../connectors/sdk";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { StagedBatchRow, TaskRow } from "../entities";
import { breathe } from "../eventLoop";
import { parseJsonLines } from "./content";
import { openBatch } from "./staging";

/**
 * Batches read per query. They are held sealed (about 50-60 KB each for auth events; a batch is closed
 * once it reaches 256 KiB of lines, unpacked) and opened one at a time, so memory stays flat; fewer,
 * larger reads cost less. bench:subject, 2,000,000 events, service and auth log on SQLite: peak RSS
 * 245-246 MB with 8 against 250-252 with 2, 23.0-23.8 s against 24.4-25.1 s.
 */
const BATCHES_PER_QUERY = 8;

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

/**
 * Record counts per succeeded collect task and category, summed from the staged batches. Each task's
 * total must be what its completion reported: records are exported exactly once, and an export never
 * goes out short because staged records were removed (a request reopened after its grace ended).
 */
export async function countSources(ds: DataSource, tasks: TaskRow[]): Promise<SourceCount[]> {
  const succeeded = tasks.filter((t) => t.status === TaskStatus.SUCCEEDED);
  const out: SourceCount[] = [];
  if (!succeeded.length) return out;
  // One query for every task: sums per (task, attempt, category); only each task's completing attempt counts.
  const rows: Array<{ taskId: string; attempt: string | number; category: string; n: string | number }> = await ds
    .getRepository(StagedBatchRow)
    .createQueryBuilder("b")
    .select("b.taskId", "taskId")
    .addSelect("b.attempt", "attempt")
    .addSelect("b.category", "category")
    .addSelect("SUM(b.records)", "n")
    .where("b.taskId IN (:...ids)", { ids: succeeded.map((t) => t.id) })
    .groupBy("b.taskId")
    .addGroupBy("b.attempt")
    .addGroupBy("b.category")
    .getRawMany();
  for (const t of succeeded) {
    const own = rows.filter((r) => r.taskId === t.id && Number(r.attempt) === t.attempts);
    const staged = own.reduce((n, r) => n + Number(r.n), 0);
    const reported = t.result?.records ?? 0;
    if (staged !== reported) {
      throw new ConnectorError(
        `The records collected from ${t.connector} are no longer all staged (${staged} of ${reported}): staged records are removed DSR_STAGED_GRACE_MINUTES after a request ends, so submit a new request`,
        `staged ${staged} records for task ${t.id} attempt ${t.attempts}, its completion reported ${reported}`,
        false,
      );
    }
    for (const r of own) out.push({ taskId: t.id, attempt: t.attempts, connector: t.connector, category: r.category, records: Number(r.n) });
  }
  return out.sort((a, b) => a.category.localeCompare(b.category) || a.connector.localeCompare(b.connector));
}

/**
 * One category's records from several sources as JSON Lines in UTF-8, one buffer per staged batch (in
 * the order they were staged): opened (decrypted, inflated) here, never stored in the clear. The lines
 * are exactly `JSON.stringify({ connector, type, id, recordedAt, data })`, as staged (recordLine).
 */
export async function* readJsonLines(ds: DataSource, key: Buffer, sources: readonly RecordSource[], category: string, options: { onPage?: () => Promise<void> } = {}): AsyncGenerator<Buffer> {
  // The first page of every source in one query: most categories of most requests are a batch or two
  // per connector, and would otherwise cost a statement per connector.
  const firstPages = sources.length > 1 ? await firstPagesOf(ds, sources, category) : null;
  for (const source of sources) {
    for (let after = -1; ; ) {
      const batches =
        after === -1 && firstPages
          ? (firstPages.get(source.taskId) ?? [])
          : await ds.getRepository(StagedBatchRow).find({
              where: { taskId: source.taskId, attempt: source.attempt, category, seq: MoreThan(after) },
              order: { seq: "ASC" },
              take: BATCHES_PER_QUERY,
              select: { seq: true, payload: true, requestId: true },
            });
      for (const b of batches) {
        yield await openBatch(key, { requestId: b.requestId, taskId: source.taskId, attempt: source.attempt, category, seq: b.seq }, b.payload);
        await options.onPage?.();
        await breathe();
      }
      if (batches.length < BATCHES_PER_QUERY) break;
      after = batches[batches.length - 1].seq;
    }
  }
}

/**
 * Each source's first BATCHES_PER_QUERY batches of the category (seq 0, 1, ...: a task's batches are
 * numbered from 0 per category), by task id, in one statement. At most that many batches per source
 * are held at once, as the per-source reads would.
 */
async function firstPagesOf(ds: DataSource, sources: readonly RecordSource[], category: string): Promise<Map<string, StagedBatchRow[]>> {
  const rows = await ds.getRepository(StagedBatchRow).find({
    where: sources.map((s) => ({ taskId: s.taskId, attempt: s.attempt, category, seq: LessThan(BATCHES_PER_QUERY) })),
    order: { seq: "ASC" },
    select: { taskId: true, attempt: true, seq: true, payload: true, requestId: true },
  });
  const pages = new Map<string, StagedBatchRow[]>();
  for (const source of sources) pages.set(source.taskId, rows.filter((r) => r.taskId === source.taskId));
  return pages;
}

/** The same records parsed, a batch at a time (a CSV whose columns grew after its first page is read again). */
export async function* readPages(ds: DataSource, key: Buffer, sources: readonly RecordSource[], category: string, options: { onPage?: () => Promise<void> } = {}): AsyncGenerator<ExportRecord[]> {
  for await (const bytes of readJsonLines(ds, key, sources, category, options)) {
    const page = parseJsonLines(bytes);
    if (page.length) yield page;
  }
}
