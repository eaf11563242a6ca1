import type { DataSource } from "typeorm";
import type { Clock } from "./clock";
import type { Config } from "./config/env";
import type { Logger } from "./logger";
import type { Notifier } from "./notifier/notifier";

/** What commands and queries need from the running process, passed explicitly (no globals). */
export interface Services {
  ds: DataSource;
  clock: Clock;
  config: Config;
  logger: Logger;
  notifier: Notifier;
  /** Server secret keying verification-code hashes. */
  secret: string;
}
