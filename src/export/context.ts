import type { Config } from "../config/env";
import type { Logger } from "../logger";
import { createDataKeys, DataKeys } from "./keys";
import { createExportStorage, ExportStorage } from "./storage";

export interface ExportTools {
  keys: DataKeys;
  storage: ExportStorage;
}

const made = new WeakMap<Config, ExportTools>();

/** The key source and storage of a configuration, made once per process (the master key file is read once). */
export function exportTools(services: { config: Config; logger?: Logger }): ExportTools {
  let tools = made.get(services.config);
  if (!tools) {
    tools = { keys: createDataKeys(services.config, services.logger), storage: createExportStorage(services.config) };
    made.set(services.config, tools);
  }
  return tools;
}
