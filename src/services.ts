import type { DataSource } from "typeorm";
import type { Clock } from "./clock";
import type { Config } from "./config/env";
import type { Logger } from "./logger";
import type { Notifier } from "./notifier/notifier";
import type { ConnectorRegistry } from "./orchestrator/registry";

/** What commands and queries need from the running process, passed explicitly (no globals). */import type { RetentionRule } from "./domain/retention";

export interface Services {
  ds: DataSource;
  clock: Clock;
  config: Config;
  logger: Logger;
  notifier: Notifier;
  /** Server secret keying verification-code hashes. */
  secret: string;
  /** Retention rules by category (POLICY.md defaults): what a deletion keeps and until when. */
  retentionRules: readonly RetentionRule[];
  /** This installation's connectors. */
  connectors: ConnectorRegistry;
  /** Tells this process's worker that new tasks may be runnable (a no-op without one). */
  wakeWorkers(): void;
}
