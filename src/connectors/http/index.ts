export { createHttpConnector } from "./httpConnector";
export type { HttpConnectorConfig, HttpResourceConfig, HttpRosterConfig, HttpErase, Pagination } from "./config";
