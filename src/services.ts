import type { DataSource } from "typeorm";
import type { Clock } from "./clock";
import type { Config } from "./config/env";
import type { Logger } from "./logger";
import type { Notifier } from "./notifier/notifier";
import type { ConnectorRegistry } from "./orchestrator/registry";

/** What commands and queries need from the running process, passed explicitly (no globals). */
export interface Services {
  ds: DataSource;
  clock: Clock;
  config: Config;
  logger: Logger;
  notifier: Notifier;
  /** Server secret keying verification-code hashes. */
  secret: string;
  /** This installation's connectors. */
  connectors: ConnectorRegistry;
  /** Tells this process's worker that new tasks may be runnable (a no-op without one). */
  wakeWorkers(): void;
}
