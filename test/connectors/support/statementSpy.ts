import type { DataSource, QueryRunner } from "typeorm";

/** Records every statement the DataSource runs, with how many rows it returned or changed. */
export function spyOn(ds: DataSource): { sql: string; rows: number; affected?: number }[] {
  const seen: { sql: string; rows: number; affected?: number }[] = [];
  const create = ds.createQueryRunner.bind(ds);
  const wrapped = new WeakSet<QueryRunner>();
  ds.createQueryRunner = (...args: Parameters<DataSource["createQueryRunner"]>): QueryRunner => {
    const runner = create(...args);
    // SQLite drivers hand out one shared runner: wrap it once.
    if (wrapped.has(runner)) return runner;
    wrapped.add(runner);
    const query = runner.query.bind(runner);
    runner.query = (async (sql: string, params?: unknown[], structured?: boolean) => {
      const result = await query(sql, params, structured as true);
      seen.push({ sql, rows: Array.isArray(result?.records) ? result.records.length : 0, affected: result?.affected });
      return result;
    }) as QueryRunner["query"];
    return runner;
  };
  return seen;
}
