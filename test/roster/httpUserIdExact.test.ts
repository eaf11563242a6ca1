import { expect } from "chai";
import { createAuthLogConnector, type AuthLogConnector } from "../../src/connectors/authLog";
import { createHttpConnector } from "../../src/connectors/http";
import { createSampleAuthLogTable, insertAuthEvents } from "../../src/sample/authLog";
import { ADA_EVENTS, openTestDataSource } from "../connectors/support/authLogFixtures";
import { ADA, REST_TOKEN, restConfig, restRoster, RestStandIn } from "../connectors/support/restStandIn";
import { createSqliteDatabase, type TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { downloadRoster, drawRoster } from "./support";

/**
 * The HTTP connector's roster lists a user id exactly as the system holds it, as the auth log's does.
 * The helpdesk (a REST API on loopback) holds Ada's platform user id as `usr_a ` (a trailing space);
 * the auth log holds 5 events of `usr_a ` and 3 of `usr_a`, another account. The HTTP roster used to
 * trim it: Ada's line named `usr_a` and was joined with that other account's 3 events, and `usr_a `'s
 * 5 were left on a line of their own, nobody's address beside them.
 */
describe("breach roster through GraphQL: an HTTP system's user ids exactly as it holds them", () => {
  let authDb: TestDatabase;
  let serviceDb: TestDatabase;
  let authLog: AuthLogConnector;
  let standIn: RestStandIn;
  let t: TestService;
  before(async () => {
    authDb = await createSqliteDatabase();
    const ds = await openTestDataSource(authDb);
    await createSampleAuthLogTable(ds, "auth_events");
    await insertAuthEvents(ds, [...ADA_EVENTS.slice(0, 5).map((e) => ({ ...e, userId: "usr_a " })), ...ADA_EVENTS.slice(5, 8).map((e) => ({ ...e, userId: "usr_a" }))], { table: "auth_events" });
    await ds.destroy();
    authLog = createAuthLogConnector({ store: "sql", url: authDb.url, table: "auth_events" });
    standIn = await new RestStandIn().start();
    // Only Ada is held with a platform user id: the one the helpdesk stores, trailing space and all.
    (standIn.users[0] as Record<string, unknown>).platform_id = "usr_a ";
    const helpdesk = createHttpConnector({ ...restConfig(standIn), roster: { ...restRoster(), identities: { email: "email", userId: "platform_id" } } }, { REST_TEST_TOKEN: REST_TOKEN });
    serviceDb = await createSqliteDatabase();
    t = await new TestService(serviceDb, { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "20", DSR_RATE_LIMIT_PER_SECOND: "0" }, [authLog, helpdesk]).start();
  });
  after(async () => {
    await t?.stop();
    await authLog?.close();
    await standIn?.stop();
    await authDb?.drop();
    await serviceDb?.drop();
  });

  it("names Ada by usr_a  (as the helpdesk holds it) on the line with that id's 5 auth events, and usr_a's 3 on another", async () => {
    expect(standIn.users.map((u) => (u as Record<string, unknown>).platform_id ?? null), "the helpdesk's own store").to.deep.equal(["usr_a ", null, null, null]);
    const roster = await drawRoster(t, ["auth-log", "helpdesk"]);
    expect(roster.status, roster.lastError).to.equal("COMPLETED");
    const { lines } = await downloadRoster(t, roster.id);
    const ada = lines.filter((l) => l.emails === ADA.email);
    // Before: Ada's line named userId=usr_a, joined with usr_a's 3 auth events (another account's), and usr_a 's 5 stood apart.
    expect(ada.map((l) => [l.other_identities, l.systems]), "Ada's line").to.deep.equal([["userId=usr_a ", "auth-log; helpdesk"]]);
    const plain = lines.filter((l) => l.other_identities === "userId=usr_a");
    expect(plain.map((l) => [l.emails, l.systems, l.records]), "usr_a's line").to.deep.equal([["", "auth-log", "3"]]);
    expect(Number(ada[0].records), "Ada's records: her 5 auth events and the helpdesk's count").to.equal(5 + standIn.recordsOf(1) + 1);
  });
});
