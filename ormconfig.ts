import "reflect-metadata";
import { loadConfig } from "./src/config/env";
import { createDataSource } from "./src/db/dataSource";

/**
 * The TypeORM data source for tools (`typeorm migration:run -d dist/ormconfig.js`). The service itself
 * builds the same one from the same validated configuration; `dsr migrate` is the usual way to migrate.
 */
export default createDataSource(loadConfig());
