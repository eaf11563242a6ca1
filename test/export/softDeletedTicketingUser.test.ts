import { expect } from "chai";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn, ZendeskUser } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { closedCcThreads, connectorFor, expectedRecordCount, GRACE_PERSON, startStandIn, ticketsOf, ticketsTiedTo } from "../connectors/support/zendeskStandIn";
import { exportedManifest, FAST } from "./support";

const REPORT = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector erased kept residual matchesPlan plannedFound plannedToErase plannedToKeep }
  retentionExceptions { connector recordType recordCount } } }`;

/**
 * An agent deleted Grace's Zendesk user by hand: Zendesk keeps the user (soft-deleted, in deleted_users)
 * and every ticket of theirs. Before, the connector showed nothing of such a user, so an access request
 * missed her tickets and a deletion only deleted the user for good, left every thread in place and still
 * reported COMPLETED. Each claim below is checked against the stand-in's own data.
 */
describeEachDatabase("a ticketing user deleted by hand in Zendesk", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  let grace: ZendeskUser;
  before(async function () {
    this.timeout(60_000);
    z = await startStandIn();
    connector = connectorFor(z);
    // Support threads kept two years from their last activity: Grace has threads on both sides of that.
    const rules = [{ category: "SUPPORT", period: "730 days", legalBasis: "dispute resolution", basisKind: "LEGITIMATE_INTEREST" }];
    t = await new TestService(db(), { ...FAST, DSR_RETENTION_RULES: JSON.stringify(rules) }, [connector]).start();
    grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
  });
  after(async () => {
    await t?.stop();
    await connector?.close();
    await z?.close();
  });

  const finished = async (type: string) => {
    const r = await submit(t, { type, subject: { email: GRACE_PERSON.email }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await t.waitFor(async () => {
      const x = (await t.ok(REPORT, { id: r.id })).request;
      return ["COMPLETED", "FAILED", "PARTIALLY_COMPLETED"].includes(x.status) ? x : undefined;
    }, `${type} finished`, 30_000);
    return { id: r.id as string, ...done };
  };
  /** Tickets in the stand-in that still lead to her: requested by her or CC'ing her. */
  const tiedToHer = () => ticketsTiedTo(z, grace.id);

  it("exports her profile and every ticket Zendesk still holds, then erases them and reports what Zendesk shows", async function () {
    this.timeout(90_000);
    const before = ticketsOf(z, grace.id);
    const holds = expectedRecordCount(z, grace.id);
    // Closed tickets someone else opened that she is CC'd on, outside the rule: Zendesk takes no update of them, so she stays on their CCs, and their records stay with her user, kept.
    const closedOld = closedCcThreads(z, grace.id, new Date(t.clock.now().getTime() - 730 * 86_400_000)).map((x) => x.id);
    z.store.softDeleteUser(grace, new Date());

    const access = await finished("ACCESS");
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const manifest = await exportedManifest(t, access.id);
    expect(manifest.connectors.find((c) => c.name === connector.spec.name)?.records, "records of hers the export carries").to.equal(holds);

    const deletion = await finished("DELETION");
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const [line] = deletion.deletionOutcome;
    expect(line).to.include({ connector: connector.spec.name, plannedFound: holds, residual: 0, matchesPlan: true });
    expect(line.erased + line.kept + line.residual).to.equal(holds);
    // Asked of Zendesk: exactly the threads active in the last two years still lead to her, the others
    // are gone (or she is off them), and her user stays, soft-deleted, with the kept ones.
    const cutoff = t.clock.now().getTime() - 730 * 86_400_000;
    const recent = before.filter((x) => new Date(x.ticket.updated_at).getTime() >= cutoff).map((x) => x.ticket.id);
    expect(recent.length, "some threads kept").to.be.greaterThan(0);
    expect(recent.length, "some erased").to.be.lessThan(before.length);
    expect(tiedToHer().map((x) => x.id).sort()).to.deep.equal([...recent, ...closedOld].sort());
    const keptTickets = deletion.retentionExceptions.filter((x: { recordType: string }) => x.recordType === "ticket").reduce((n: number, x: { recordCount: number }) => n + x.recordCount, 0);
    expect(keptTickets).to.equal(recent.length + closedOld.length);
    expect(z.store.user(grace.id)?.active, "still soft-deleted, with her kept threads").to.equal(false);
    expect(line.erased, "erased more than the user record").to.be.greaterThan(1);
  });
});
