import { DataSource } from "typeorm";
import { isMysql } from "./dataSource";

/**
 * SQL for the database clock's current instant plus `plusMs`, in the stored form of timestamp columns
 * (UTC, milliseconds). Leases are timed on this clock: processes on several hosts share one database
 * and no host's clock, so a host whose clock runs ahead cannot expire another's lease early, nor one
 * running behind keep a dead worker's lease alive. Domain time (deadlines, backoff, retention) stays on
 * the service clock, which tests drive.
 */
export function dbTimeSql(ds: DataSource, plusMs = 0): string {
  const ms = Math.round(plusMs);
  // UTC_TIMESTAMP, not NOW(): the session's time zone is the server's, the columns hold UTC.
  if (isMysql(ds)) return `(UTC_TIMESTAMP(3) + INTERVAL ${ms * 1000} MICROSECOND)`;
  return `strftime('%Y-%m-%d %H:%M:%f', 'now', '${ms < 0 ? "-" : "+"}${(Math.abs(ms) / 1000).toFixed(3)} seconds')`;
}
