import type { SqlConnector } from "../../../src/connectors/sql";
import { TestDatabase } from "../../support/databases";
import { TestService } from "../../support/harness";
import { sqlSuiteHooks } from "./accountDb";

export type ServerKind = "mariadb" | "postgres";
export const LEASE_MS = 2_000;
export const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: String(LEASE_MS) };
export const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;

/** A trigger that makes every `event` of a profile sleep `seconds` in the database itself. */
export function slowTrigger(kind: ServerKind, event: "DELETE" | "UPDATE", seconds: number): string[] {
  const name = `profiles_slow_${event.toLowerCase()}`;
  if (kind === "mariadb") return [`CREATE TRIGGER ${name} BEFORE ${event} ON profiles FOR EACH ROW DO SLEEP(${seconds})`];
  return [
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN ${event === "DELETE" ? "OLD" : "NEW"}; END $$ LANGUAGE plpgsql`,
    `CREATE TRIGGER ${name} BEFORE ${event} ON profiles FOR EACH ROW EXECUTE FUNCTION ${name}()`,
  ];
}

/**
 * How many statements like `pattern` (a LIKE pattern) other sessions run now. MariaDB shows a statement
 * whose trigger runs as the trigger's own statement: `seconds`, the trigger's sleep, finds those too.
 */
export function runningLike(kind: ServerKind, pattern: string, seconds: number): string {
  return kind === "mariadb"
    ? `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE (INFO LIKE '${pattern}' OR INFO LIKE 'DO SLEEP(${seconds})%') AND INFO NOT LIKE '%PROCESSLIST%'`
    : `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query ILIKE '${pattern}' AND query NOT ILIKE '%pg_stat_activity%'`;
}

/** Request `id` (read with `show`) once it has ended, without moving the service's clock. */
export function endOf(t: TestService, show: string, id: string): Promise<any> {
  return t.waitFor(
    async () => {
      const { request } = await t.ok(show, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "request ended",
    60_000,
  );
}

/**
 * A suite on a forum database (forumProfiles) whose connector each test gets fresh from `connector`;
 * `service()` starts the service, `ticking()` then runs its clock as a real one does (units expire on it,
 * as in production). Everything is stopped after each test.
 */
export function slowForumSuite(db: () => TestDatabase, connector: (query: (sql: string, params?: unknown[]) => Promise<unknown>) => Promise<SqlConnector>) {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  let made: SqlConnector;
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;
  beforeEach(async () => {
    made = await connector(suite.query);
  });
  afterEach(async () => {
    clearInterval(ticking);
    await t?.stop();
    t = undefined;
    await made.close();
  });
  return {
    query: suite.query,
    kind: () => db().kind as ServerKind,
    service: async (realClock = false): Promise<TestService> => {
      t = await new TestService(suite.serviceDb(), FAST, [made]).start();
      if (realClock) ticking = setInterval(() => t?.clock.advance(20), 20);
      return t;
    },
  };
}

