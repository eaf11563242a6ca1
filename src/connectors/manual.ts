import { Connector, ConnectorAction, DataCategory } from "./sdk";

/** A system with no API: its tasks wait in AWAITING_INPUT until a privacy officer completes them. */
export interface ManualConnectorConfig {
  name: string;
  categories: DataCategory[];
  supports: ConnectorAction[];
  /** What the person must do, shown on the task. */
  instructions: string;
}

export function createManualConnector(config: ManualConnectorConfig): Connector {
  return {
    spec: {
      name: config.name,
      version: "manual",
      supports: config.supports,
      needs: ["email"],
      provides: [],
      categories: config.categories,
      manual: true,
      instructions: config.instructions,
    },
    async check() {
      return { ok: true, message: "manual: a person completes each task through completeManualTask" };
    },
    // The orchestrator never calls collect on a manual connector; a person attaches the records instead.
    async *collect() {},
  };
}
