import type { Config } from "../config/env";
import { CheckpointStore, createCheckpointStore } from "./checkpointStore";
import { AuditSigningKey, resolveAuditKey } from "./signingKey";

export interface AuditTools {
  store: CheckpointStore;
  /** The signing key, read (or generated) on first use. */
  key(): AuditSigningKey;
}

const made = new WeakMap<Config, AuditTools>();

/** The checkpoint store and signing key of a configuration, made once per process. */
export function auditTools(services: { config: Config }): AuditTools {
  let tools = made.get(services.config);
  if (!tools) {
    const config = services.config;
    tools = { store: createCheckpointStore(config), key: () => resolveAuditKey(config) };
    made.set(config, tools);
  }
  return tools;
}
