import type { DataSource } from "typeorm";

/** One statement a DataSource ran. */
export interface SeenStatement {
  query: string;
  parameters: unknown[];
}

/**
 * Records every statement `ds` runs from now until stop(), as TypeORM's logger sees them: every query
 * runner reports each statement to its data source's logger, whatever the logging option. stop()
 * puts the logger back; call it in a finally.
 */
export function watchStatements(ds: DataSource): { statements: SeenStatement[]; stop: () => void } {
  const logger = ds.logger;
  const original = logger.logQuery;
  const statements: SeenStatement[] = [];
  logger.logQuery = function (query, parameters, runner) {
    statements.push({ query, parameters: Array.isArray(parameters) ? parameters : [] });
    return original.call(this, query, parameters, runner);
  };
  return { statements, stop: () => (logger.logQuery = original) };
}
