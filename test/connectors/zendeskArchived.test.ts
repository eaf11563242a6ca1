import { expect } from "chai";
import { ConnectorError, SubjectRecord } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn, ZendeskTicket } from "../../src/sample/zendesk";
import { ADA, connectorFor, EMAIL, notingContext, othersWroteOn, redactedToNothing, startStandIn, TOKEN } from "./support/zendeskStandIn";

const ADA_ID = Number(ADA.ticketingUserId);
const SUPPORT = { categories: ["SUPPORT" as const] };

/** A call to the stand-in as the connector makes it (its credentials), answered as status and JSON. */
async function ask(z: ZendeskStandIn, method: string, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${z.url}/api/v2/${path}`, { method, headers: { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` } });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/**
 * Zendesk archives a ticket about 120 days after it is closed. Its API reference leaves archived tickets
 * out of GET /api/v2/tickets, /organizations/{id}/tickets, /tickets/recent and /deleted_tickets, not out of
 * the per-user lists (requested, ccd) the connector reads; its search and comment redactions reach them, and
 * a deleted archived ticket is gone for good at once (never in deleted_tickets, never restored). The
 * stand-in models that (ZendeskTicket.archived); these cases check, against its own data, that an archived
 * ticket Ada requested is exported, and erased or redacted, and counted as what was done.
 */
describe("an archived Zendesk ticket (closed more than 120 days ago)", () => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  /** Ada's archived tickets, in the stand-in's own data: those she requested no other customer wrote on, and those another did. */
  let own: ZendeskTicket[];
  let shared: ZendeskTicket[];
  beforeEach(async () => {
    z = await startStandIn();
    connector = connectorFor(z);
    const archived = z.store.archiveClosedTickets(new Date()).filter((t) => t.requester_id === ADA_ID);
    own = archived.filter((t) => !othersWroteOn(z, t, ADA_ID));
    shared = archived.filter((t) => othersWroteOn(z, t, ADA_ID));
    expect(own.length, "the seed archives some of Ada's own threads").to.be.greaterThan(0);
  });
  afterEach(async () => {
    await connector?.close();
    await z?.close();
  });

  it("is listed as hers by the per-user list Zendesk documents it in (archived tickets are left out of account-wide lists only)", async () => {
    console.log(`      Ada's archived threads: ${own.length} her own, ${shared.length} shared`);
    const requested = await ask(z, "GET", `users/${ADA_ID}/tickets/requested.json?per_page=100`);
    expect(requested.body.tickets.map((t: { id: number }) => t.id)).to.include.members(own.map((t) => t.id));
  });

  it("is exported with Ada's access request: the ticket, her comments and the staff's replies", async () => {
    const records = await collectAll(connector, ADA, testContext());
    const ids = (type: string) => records.filter((r) => r.type === type).map((r) => r.id);
    expect(ids("ticket")).to.include.members([...own, ...shared].map((t) => String(t.id)));
    const theirs = own.flatMap((t) => t.comments.filter((c) => !redactedToNothing(c)).map((c) => String(c.id)));
    expect(ids("comment")).to.include.members(theirs);
    expect(records.find((r) => r.id === String(own[0].id))!.data.subject).to.equal(own[0].subject);
  });

  it("is deleted for good by her erasure, counted erased once, and nothing of it is left in Zendesk", async () => {
    const planned = (await collectAll(connector, ADA)).filter((r) => !r.residualOnErasure).length;
    const outcome = await connector.erase(ADA, SUPPORT, testContext());
    expect(outcome.erased).to.equal(planned);
    // Asked of the stand-in: each of her own archived threads is gone, not waiting in deleted_tickets, and cannot come back.
    for (const t of own) {
      expect(z.store.state.tickets.find((x) => x.id === t.id), `ticket ${t.id}`).to.equal(undefined);
      expect((await ask(z, "PUT", `deleted_tickets/${t.id}/restore.json`)).status).to.equal(404);
    }
    expect((await ask(z, "GET", "deleted_tickets.json")).body.deleted_tickets.map((t: { id: number }) => t.id)).not.to.include.members(own.map((t) => t.id));
    expect(z.store.effects.ticketRestores).to.equal(0);
    // On an archived thread another customer wrote on, her own words are redacted (Zendesk redacts archived tickets' comments) and the rest stays, named residual.
    for (const t of shared) {
      const after = z.store.ticket(t.id)!;
      expect(after.comments.filter((c) => c.author_id === ADA_ID).every(redactedToNothing), `her words on ${t.id}`).to.equal(true);
    }
    expect((outcome.residual ?? []).filter((r) => r.type === "ticket").reduce((n, r) => n + r.count, 0)).to.equal(shared.length);
  });

  /** The records of one thread among those collected: the ticket's and those on it (comments, attachments, side messages). */
  const onThread = (records: SubjectRecord[], id: number) => records.filter((r) => (r.type === "ticket" && r.id === String(id)) || (r.type !== "ticket" && r.type !== "user" && (r.data as { ticket_id?: number }).ticket_id === id));

  /**
   * Runs an erase that fails after its delete of one of Ada's archived threads and before that unit ends
   * (Zendesk answers 500 to the call that follows the delete), as a killed attempt leaves it. Returns the
   * thread, how many records of hers it held, and the notes of the units left unfinished.
   */
  const eraseUntilArchivedDeleted = async () => {
    const thread = own[0];
    const records = onThread(await collectAll(connector, ADA), thread.id).length;
    z.faults.add({ kind: "500", method: "DELETE", path: `/deleted_tickets/${thread.id}.json`, times: 1 });
    const notes: string[] = [];
    expect(await connector.erase(ADA, SUPPORT, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
    expect(notes).to.deep.equal([`ticket:${thread.id}:${records}`]);
    // Asked of the stand-in: the thread went for good already, and cannot come back.
    expect(z.store.state.tickets.some((x) => x.id === thread.id)).to.equal(false);
    return { thread, records, notes };
  };

  // Before: the retry's restore answered 404 and the thread was counted nowhere (erased 0 of the records it held).
  it("is counted erased once when a legal hold withdraws the unit that deleted it for good (a hold placed while the retry runs)", async () => {
    const { records, notes } = await eraseUntilArchivedDeleted();
    const outcome = await connector.erase(ADA, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes, eraseUnit: async () => false }));
    expect(outcome.erased).to.equal(records);
    expect(z.store.effects.ticketRestores).to.equal(0);
  });

  it("is counted erased once when a legal hold on SUPPORT was placed before the retry (its instruction no longer names SUPPORT)", async () => {
    const { records, notes } = await eraseUntilArchivedDeleted();
    // The live threads the hold keeps stay as they are: nothing more is deleted.
    const live = z.store.state.tickets.filter((t) => !t.deleted_at).length;
    const outcome = await connector.erase(ADA, { categories: [] }, testContext({ attempt: 2, unfinishedUnits: async () => notes, eraseUnit: async () => false }));
    expect(outcome).to.deep.equal({ erased: records });
    expect(z.store.state.tickets.filter((t) => !t.deleted_at).length).to.equal(live);
  });
});
