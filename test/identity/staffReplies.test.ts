import { expect } from "chai";
import { STAFF_REPLY_REASON } from "../../src/connectors/zendesk/records";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { SAMPLE_AGENT_ID } from "../../src/sample/zendesk/seed";
import { ZendeskStandIn } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ConnectorError } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/conformance";
import { ADA_PERSON, connectorFor, deleteAcrossSearchLag, notingContext, overLaggingSearch, redactedToNothing, startStandIn } from "../connectors/support/zendeskStandIn";
import { finishedRequest, zendeskServiceEach } from "../export/support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status lastError outcome { records erased } }
  deletionPlan { connector found toErase toKeep toLeaveResidual residualReason }
  deletionOutcome { connector erased kept residual matchesPlan differences { kind records } }
  residualRecords { connector recordType records reason } } }`;

const ADA_ID = Number(ADA_PERSON.ticketingUserId);
const LONG_AGO = "2016-01-04T10:00:00.000Z";

/**
 * The subject's address is a helpdesk agent's (an employee who is also a customer, or a former one):
 * the agent wrote on every customer's ticket. What staff write on a ticket a customer requested is that
 * customer's communication history (their access request exports it), so it is theirs as well as the
 * agent's. The agent's deletion redacted every such reply, erasing part of each customer's threads.
 * Checked against the Zendesk stand-in's own data.
 */
describeEachDatabase("a subject who is a helpdesk agent, with replies on customers' tickets", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  // Support threads kept 30 days: a deletion erases every older thread rather than keep it.
  zendeskServiceEach(db, "30 days", (s) => ({ z, connector, t } = s));
  // Every thread's last activity long ago: none is kept, so the agent's user goes too.
  beforeEach(() => {
    for (const ticket of z.store.state.tickets) ticket.updated_at = LONG_AGO;
  });

  const agent = () => z.store.user(SAMPLE_AGENT_ID)!;
  /** The agent's replies, at Zendesk, on tickets customers requested. */
  const replies = () => z.store.state.tickets.filter((ticket) => ticket.requester_id !== SAMPLE_AGENT_ID).flatMap((ticket) => ticket.comments.filter((c) => c.author_id === SAMPLE_AGENT_ID));

  it("leaves the agent's replies on customers' tickets as they were, names them residual (as the plan foresaw), and Ada's threads keep what the agent told her", async function () {
    this.timeout(120_000);
    expect(agent().role).to.equal("agent");
    const before = replies();
    expect(before.length, "the agent answered old customer tickets").to.be.greaterThan(3);
    const beforeText = JSON.stringify(before);
    const onAdas = z.store.ticketsRequestedBy(ADA_ID).flatMap((ticket) => ticket.comments.filter((c) => c.author_id === SAMPLE_AGENT_ID));
    expect(onAdas.length, "the agent answered Ada").to.be.greaterThan(0);

    const deletion = await finishedRequest(t, "DELETION", agent().email, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");

    // Before: every one of the agent's replies on customers' old tickets was redacted (text and attachments).
    const now = before.map((c) => z.store.state.tickets.flatMap((ticket) => ticket.comments).find((x) => x.id === c.id));
    expect(now.filter((c) => !c || redactedToNothing(c)).length, "the agent's replies redacted at Zendesk").to.equal(0);
    expect(JSON.stringify(now), "the agent's replies at Zendesk").to.equal(beforeText);

    // What stays is named residual, with why, and the plan foresaw it: the erasure did what it said.
    const attachments = before.reduce((n, c) => n + c.attachments.length, 0);
    const residual = deletion.residualRecords.filter((r: any) => r.reason === STAFF_REPLY_REASON);
    const named = Object.fromEntries(residual.map((r: any) => [r.recordType, r.records]));
    const threads = new Set(before.map((c) => z.store.state.tickets.find((ticket) => ticket.comments.some((x) => x.id === c.id))!.id)).size;
    expect(z.store.user(SAMPLE_AGENT_ID), "the agent's user, deleted for good").to.equal(undefined);
    expect(named).to.deep.equal({ comment: before.length, ...(attachments ? { attachment: attachments } : {}), ticket: threads });
    const line = deletion.deletionOutcome.find((l: any) => l.connector === connector.spec.name);
    expect(line).to.deep.include({ erased: 1, kept: 0, residual: before.length + attachments + threads, matchesPlan: true, differences: [] });
    const plan = deletion.deletionPlan.find((l: any) => l.connector === connector.spec.name);
    expect(plan.toLeaveResidual).to.equal(before.length + attachments + threads);
    expect(plan.residualReason).to.include(STAFF_REPLY_REASON);

    // Ada's threads still hold what the agent told her (the agent's user is gone, the words are not).
    const adaNow = z.store.ticketsRequestedBy(ADA_ID).flatMap((ticket) => ticket.comments.filter((c) => onAdas.some((x) => x.id === c.id)));
    expect(adaNow.map((c) => c.plain_body)).to.deep.equal(onAdas.map((c) => c.plain_body));
  });

  describe("with Zendesk's search lagging (the erasure searches again after searchLagMs)", () => {
    let lagging: { z: ZendeskStandIn; connector: ZendeskConnector; t: TestService };
    beforeEach(async () => {
      lagging = await overLaggingSearch(db(), 60_000);
      for (const ticket of lagging.z.store.state.tickets) ticket.updated_at = LONG_AGO;
    });
    afterEach(async () => {
      await lagging?.t.stop();
      await lagging?.connector.close();
      await lagging?.z.close();
    });

    it("leaves the replies after the search again too, and names each once", async function () {
      this.timeout(120_000);
      const { z: lz, t: lt, connector: lc } = lagging;
      const before = lz.store.state.tickets.filter((ticket) => ticket.requester_id !== SAMPLE_AGENT_ID).flatMap((ticket) => ticket.comments.filter((c) => c.author_id === SAMPLE_AGENT_ID));
      const beforeText = JSON.stringify(before);
      const deletion = await deleteAcrossSearchLag(lt, lz, lz.store.user(SAMPLE_AGENT_ID)!.email, 60_000, SHOW);
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      const now = before.map((c) => lz.store.state.tickets.flatMap((ticket) => ticket.comments).find((x) => x.id === c.id));
      expect(JSON.stringify(now), "the agent's replies at Zendesk").to.equal(beforeText);
      const named = deletion.residualRecords.filter((r: any) => r.reason === STAFF_REPLY_REASON && r.recordType === "comment").reduce((n: number, r: any) => n + r.records, 0);
      expect(named, "each reply named residual once").to.equal(before.length);
      const line = deletion.deletionOutcome.find((l: any) => l.connector === lc.spec.name);
      expect(line).to.deep.include({ matchesPlan: true, differences: [] });
    });
  });

  it("still erases what the agent wrote on a ticket they requested themselves", async function () {
    this.timeout(120_000);
    // The agent opened a ticket of their own (as a customer would), long ago: theirs alone.
    const own = z.store.ticketsRequestedBy(ADA_ID)[0];
    own.requester_id = SAMPLE_AGENT_ID;
    own.collaborator_ids = [];
    own.comments = own.comments.filter((c) => c.author_id === SAMPLE_AGENT_ID || c.author_id === ADA_ID).map((c) => ({ ...c, author_id: SAMPLE_AGENT_ID }));
    const deletion = await finishedRequest(t, "DELETION", agent().email, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(z.store.state.tickets.some((ticket) => ticket.id === own.id), "the agent's own ticket").to.equal(false);
  });
});

describe("a helpdesk agent's erasure retried after the user's permanent delete lost its answer", () => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  beforeEach(async () => {
    z = await startStandIn();
    connector = connectorFor(z);
    for (const ticket of z.store.state.tickets) ticket.updated_at = LONG_AGO;
  });
  afterEach(async () => {
    await connector?.close();
    await z?.close();
  });

  it("still names the replies residual, from the user unit's note (the retry no longer finds the user)", async () => {
    const subject = { email: z.store.user(SAMPLE_AGENT_ID)!.email };
    const replies = z.store.state.tickets.flatMap((ticket) => ticket.comments.filter((c) => c.author_id === SAMPLE_AGENT_ID));
    const threads = z.store.state.tickets.filter((ticket) => ticket.comments.some((c) => c.author_id === SAMPLE_AGENT_ID)).length;
    z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1, afterEffect: true });
    const notes: string[] = [];
    expect(await connector.erase(subject, { categories: ["SUPPORT"] }, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
    expect(z.store.user(SAMPLE_AGENT_ID), "deleted for good").to.equal(undefined);
    const again = await connector.erase(subject, { categories: ["SUPPORT"] }, testContext({ attempt: 2, unfinishedUnits: async () => notes }));
    const staff = (again.residual ?? []).filter((r) => r.reason === STAFF_REPLY_REASON);
    expect(Object.fromEntries(staff.map((r) => [r.type, r.count]))).to.deep.equal({ ticket: threads, comment: replies.length });
    expect(again.erased, "the user, counted once by the retry").to.equal(1);
  });
});
