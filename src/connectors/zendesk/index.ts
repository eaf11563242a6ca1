/** The ticketing connector on the Zendesk Support API. See zendeskConnector.ts for what erase does. */
import { createZendeskConnector } from "./zendeskConnector";

export { resolveZendeskOptions, ZENDESK_CONNECTOR_VERSION, zendeskOptionProblems } from "./config";
export type { ResolvedZendeskOptions, ZendeskConnectorOptions } from "./config";
export { createZendeskConnector } from "./zendeskConnector";
export type { ZendeskConnector } from "./zendeskConnector";

/** For a connectors-file entry of type "module": the same factory under the name the loader looks for. */
export const createConnector = createZendeskConnector;
