/** The declarative SQL connector: configuration in, Connector out. See docs/connectors.md. */
export { configProblems, IDENTIFIER, SqlConnectorConfigError } from "./config";
export type { EraseStrategy, ReplacementValue, SqlConnectorConfig, SqlProvidedIdentity, SqlRectifiableField, SqlTableConfig } from "./config";
export type { SqlConnection } from "./database";
export { createSqlConnector, sqlConnectorSpec } from "./sqlConnector";
export type { SqlConnector, SqlConnectorOptions } from "./sqlConnector";
