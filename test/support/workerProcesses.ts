import { ChildProcess, spawn, StdioOptions } from "node:child_process";
import path from "node:path";
import { createMariadbDatabase, REQUIRE_MYSQL, TestDatabase } from "./databases";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "dsr.js");

/**
 * A scratch MariaDB database for a suite that needs one, from its `before` hook: the suite is skipped
 * when the server cannot be reached, and fails instead under DSR_TEST_REQUIRE_MYSQL (CI).
 */
export async function mariadbOrSkip(suite: Mocha.Context): Promise<TestDatabase> {
  try {
    return await createMariadbDatabase();
  } catch (error) {
    if (REQUIRE_MYSQL) throw error;
    suite.skip();
  }
}

/**
 * `dsr worker` processes a suite starts against its database, each with the suite's settings (its
 * database, connectors file and data folder, fast retries) and its own on top; `killAll()` in `after`.
 */
export class WorkerProcesses {
  readonly running = new Set<ChildProcess>();

  constructor(private readonly settings: () => Record<string, string>) {}

  start(concurrency: number, env: Record<string, string> = {}, stdio: StdioOptions = ["ignore", "ignore", "inherit"]): ChildProcess {
    const child = spawn(process.execPath, [BIN, "worker", "--concurrency", String(concurrency)], {
      env: {
        PATH: process.env.PATH,
        DSR_LOG_LEVEL: "error",
        DSR_MIGRATE_ON_START: "false",
        DSR_TASK_LEASE_MS: "1500",
        DSR_WORKER_POLL_MS: "20",
        DSR_RETRY_BASE_MS: "20",
        DSR_RETRY_MAX_MS: "200",
        ...this.settings(),
        ...env,
      },
      stdio,
    });
    this.running.add(child);
    child.once("exit", () => this.running.delete(child));
    return child;
  }

  killAll(): void {
    for (const child of this.running) child.kill("SIGKILL");
  }
}
