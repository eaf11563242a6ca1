import type { DataSource, QueryRunner } from "typeorm";

/** A statement's result as the query runner answers it (`structured`: records and affected rows). */
type QueryResult = { records?: unknown[]; affected?: number };

/** Runs every statement the DataSource sends through `around`, which calls `run` to send it. */
export function aroundQueries(ds: DataSource, around: (sql: string, run: () => Promise<QueryResult>) => Promise<QueryResult>): void {
  const create = ds.createQueryRunner.bind(ds);
  const wrapped = new WeakSet<QueryRunner>();
  ds.createQueryRunner = (...args: Parameters<DataSource["createQueryRunner"]>): QueryRunner => {
    const runner = create(...args);
    // SQLite drivers hand out one shared runner: wrap it once.
    if (wrapped.has(runner)) return runner;
    wrapped.add(runner);
    const query = runner.query.bind(runner);
    runner.query = ((sql: string, params?: unknown[], structured?: boolean) => around(sql, () => query(sql, params, structured as true))) as QueryRunner["query"];
    return runner;
  };
}

/** Records every statement the DataSource runs, with how many rows it returned or changed. */
export function spyOn(ds: DataSource): { sql: string; rows: number; affected?: number }[] {
  const seen: { sql: string; rows: number; affected?: number }[] = [];
  aroundQueries(ds, async (sql, run) => {
    const result = await run();
    seen.push({ sql, rows: Array.isArray(result?.records) ? result.records.length : 0, affected: result?.affected });
    return result;
  });
  return seen;
}
