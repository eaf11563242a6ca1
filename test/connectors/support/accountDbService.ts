import type { Connector } from "../../../src/connectors/sdk";
import { createSqlConnector, SqlConnector, SqlConnectorConfig } from "../../../src/connectors/sql";
import { createSqliteDatabase, TestDatabase } from "../../support/databases";
import { submit, TestService } from "../../support/harness";
import { AccountDb, accountDbConfig } from "./accountDb";

/** The service with the account database as its one connector, and a way to run requests through it. */
export interface AccountDbService {
  t: TestService;
  account: AccountDb;
  connector: SqlConnector;
  /**
   * Submits a request (identity verified) a second after the one before (the test clock stands still
   * otherwise, and corrections take effect in the order received), approves it, and answers `show`'s
   * request once it has ended.
   */
  run(input: Record<string, unknown>, show: string): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Seeds the account database in `accountDb` (a fresh SQLite file when omitted), connects it with its
 * configuration as `configure` leaves it, and starts the service on `serviceDb` with it (as `wrap` makes it),
 * its settings overridden by `settings`, and `more` connectors beside it.
 */
export async function accountDbService(
  serviceDb: TestDatabase,
  configure: (config: SqlConnectorConfig) => void = () => undefined,
  accountDb?: TestDatabase,
  wrap: (connector: SqlConnector) => Connector = (connector) => connector,
  settings: Record<string, string> = {},
  /** Other connectors registered beside it. */
  more: Connector[] = [],
): Promise<AccountDbService> {
  const file = accountDb ?? (await createSqliteDatabase());
  const account = await AccountDb.create(file);
  const config = accountDbConfig();
  configure(config);
  const connector = createSqlConnector(config, { url: file.url, timeoutMs: 2000 });
  const env = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "2", ...settings };
  const t = await new TestService(serviceDb, env, [wrap(connector), ...more]).start();
  return {
    t,
    account,
    connector,
    async run(input, show) {
      t.clock.advance(1000);
      const r = await submit(t, { identityVerified: true, verificationEvidence: "signed-in session", ...input });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      return t.waitFor(async () => {
        const { request } = await t.ok(show, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      }, "request ended", 30_000);
    },
    async stop() {
      await t.stop();
      await connector.close();
      await account.close();
      if (!accountDb) await file.drop();
    },
  };
}
