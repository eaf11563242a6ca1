export { createHttpConnector } from "./httpConnector";
export type { HttpConnectorConfig, HttpResourceConfig, HttpErase, Pagination } from "./config";
