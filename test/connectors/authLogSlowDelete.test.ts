import { expect } from "chai";
import type { DataSource } from "typeorm";
import { createAuthLogConnector, type AuthLogConnector } from "../../src/connectors/authLog";
import { type AuthEvent, eventKey } from "../../src/connectors/authLog/events";
import { Role } from "../../src/domain/enums";
import { createSampleAuthLogTable, insertAuthEvents } from "../../src/sample/authLog";
import { createMariadbDatabase, describeEachOf, type TestDatabase } from "../support/databases";
import { submit, TEST_START, TestService } from "../support/harness";
import { collectAll } from "../../src/connectors/testing/conformance";
import { ADA, ADA_EVENTS, GRACE, openTestDataSource } from "./support/authLogFixtures";
import { dynamoSuite } from "./support/dynamoSuite";
import { endOf, FAST, PLACE, runningLike } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordCount status } } }`;
const DAY = 86_400_000;
/** Ada's events, all recorded 200 days before the deletion (past the 90 days: all to erase). */
const EVENTS = 300;
/** What each DELETE of an event costs in the database (a trigger sleeps): one page of 300 takes 3 s, past the 2 s lease. */
const ROW_MS = 10;
const TABLE = "auth_slow";

function oldEvents(userId: string, n: number): AuthEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const at = new Date(TEST_START.getTime() - 200 * DAY + i * 1000);
    const eventId = `evt_slow_${userId}_${i}`;
    return { ...ADA_EVENTS[0], userId, eventId, key: eventKey(at, eventId), recordedAt: at.toISOString() };
  });
}

/**
 * The auth log in a MariaDB table whose deletes are slow (a trigger, as a busy table or one waiting on
 * row locks is): a page's DELETE outlasts the task's lease, so its unit of erasure ends (on the
 * service's clock) while the statement still runs. A hold placed meanwhile waits for the unit only
 * until then: a statement still running after it would erase what the hold keeps.
 */
describeEachOf(["mariadb"], "auth-log erasure on a table slow to delete", (db) => {
  let logDb: TestDatabase;
  let own: DataSource;
  let connector: AuthLogConnector;
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;

  before(async () => {
    logDb = await createMariadbDatabase();
    own = await openTestDataSource(logDb);
  });
  after(async () => {
    await own?.destroy();
    await logDb?.drop();
  });
  beforeEach(async () => {
    await own.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await createSampleAuthLogTable(own, TABLE);
    await own.query(`CREATE TRIGGER ${TABLE}_slow_delete BEFORE DELETE ON ${TABLE} FOR EACH ROW DO SLEEP(${ROW_MS / 1000})`);
    await insertAuthEvents(own, [...oldEvents(ADA.userId!, EVENTS), ...oldEvents(GRACE.userId!, 5)], { table: TABLE });
    connector = createAuthLogConnector({ store: "sql", url: logDb.url, table: TABLE });
  });
  afterEach(async () => {
    clearInterval(ticking);
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  const count = async (userId: string) => Number((await own.query(`SELECT COUNT(*) AS n FROM ${TABLE} WHERE user_id = ?`, [userId]))[0].n);

  it("erases nothing a hold placed while a page's DELETE runs keeps: the statement ends before its unit", async function () {
    this.timeout(120_000);
    t = await new TestService(db(), FAST, [connector]).start();
    // The service's clock runs as a real one does: units expire on it, as in production.
    ticking = setInterval(() => t?.clock.advance(20), 20);
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (Number((await own.query(runningLike("mariadb", `%DELETE FROM%${TABLE}%`, ROW_MS / 1000)))[0].n) > 0 ? true : undefined), "the DELETE running", 60_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["AUTH_LOGS"], reason: "litigation", caseReference: "K-21" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await count(ADA.userId!);
    const ended = await endOf(t, SHOW, r.id);
    // The table itself: every event of Ada's there when the hold was answered is still there.
    const now = await count(ADA.userId!);
    expect(atPlacement, "Ada's events when the hold was answered").to.be.greaterThan(0);
    expect(now, "Ada's events after the deletion ended (the hold keeps those it met)").to.equal(atPlacement);
    expect(await count(GRACE.userId!), "Grace's events").to.equal(5);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["AUTH_LOGS", atPlacement]]);
    expect(ended.tasks.find((y: any) => y.step === "ERASE").outcome.erased, "erased, as the deletion reports it").to.equal(EVENTS - atPlacement);
  });

  it("completes when one page's DELETE outlasts the lease, counting exactly what the table lost", async function () {
    this.timeout(120_000);
    t = await new TestService(db(), FAST, [connector]).start();
    ticking = setInterval(() => t?.clock.advance(20), 20);
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const ended = await endOf(t, SHOW, r.id);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(await count(ADA.userId!), "Ada's events left").to.equal(0);
    expect(await count(GRACE.userId!), "Grace's events").to.equal(5);
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect(erase.outcome.erased, "erased, as the deletion reports it").to.equal(EVENTS);
    expect(erase.attempts, "no lease lost").to.equal(1);
  });
});

/**
 * The auth log on DynamoDB throttling the deletes: every second DeleteItem is refused, and the store
 * resends it after a backoff. Its backoffs outlast the lease,
 * so its unit of erasure ends (on the service's clock) while rounds are still to come: a hold placed
 * meanwhile is answered at the unit's end, and no round may delete after that.
 */
describeEachOf(["sqlite"], "auth-log erasure on a DynamoDB table throttling its deletes", (db) => {
  const s = dynamoSuite(db);

  it("deletes nothing after the unit a hold placed meanwhile waited for has ended", async function () {
    this.timeout(120_000);
    const connector = s.f.connector({ unprocessedRetries: 8, backoffBaseMs: 800, backoffMaxMs: 800, deleteConcurrency: 1, timeoutMs: 500 });
    const ada = async () => (await collectAll(s.f.connector(), ADA)).length;
    const before = await ada();
    const t = await s.service(FAST, [connector], true);
    s.dynamo.throttleEveryOtherDelete = true;
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => (s.dynamo.count("DeleteItem") > 0 ? true : undefined), "the first delete sent", 60_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["AUTH_LOGS"], reason: "litigation", caseReference: "K-22" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await ada();
    const ended = await endOf(t, SHOW, r.id);
    s.dynamo.throttleEveryOtherDelete = false;
    const now = await ada();
    expect(atPlacement, "Ada's events when the hold was answered").to.be.within(1, before - 1);
    expect(now, "Ada's events after the deletion ended (the hold keeps those it met)").to.equal(atPlacement);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    expect(ended.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["AUTH_LOGS", atPlacement]]);
  });
});
