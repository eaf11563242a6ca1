export { createHttpConnector } from "./httpConnector";
export type { HttpAccountConfig, HttpConnectorConfig, HttpResourceConfig, HttpRosterConfig, HttpErase, Pagination } from "./config";
