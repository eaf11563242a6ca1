import { expect } from "chai";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { NotSearchedRecords } from "../../src/connectors/sdk";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn, ZendeskTicket, ZendeskUser } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { connectorFor, deleteAcrossSearchLag, overLaggingSearch, startStandIn } from "./support/zendeskStandIn";

const LAG_MS = 600_000;
const REPORT = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status } } }`;

/**
 * A helpdesk user made `ago` ms before now, holding `email` (verified unless told), who requested one
 * ticket then: Zendesk's search does not show them while its index lags (the stand-in's searchLagMs).
 */
function newUser(z: ZendeskStandIn, email: string, ago: number, verified = true): { user: ZendeskUser; ticket: ZendeskTicket } {
  const at = new Date(Date.now() - ago).toISOString();
  const id = z.store.state.nextId++;
  const user: ZendeskUser = { id, name: "Nia New", email, primary_email_verified: verified, phone: null, role: "end-user", active: true, verified, external_id: null, time_zone: "London", locale: "en-GB", created_at: at, updated_at: at };
  const words = "Nia's card ends 4242";
  const comment = { id: z.store.state.nextId++, type: "Comment" as const, author_id: id, body: words, html_body: `<p>${words}</p>`, plain_body: words, public: true, attachments: [], via: { channel: "web" }, created_at: at };
  const ticket: ZendeskTicket = { id: z.store.state.nextId++, subject: "New here", description: words, type: "question", priority: "normal", status: "open", requester_id: id, submitter_id: id, assignee_id: null, collaborator_ids: [], tags: [], via: { channel: "web" }, created_at: at, updated_at: at, comments: [comment] };
  z.store.state.users.push(user);
  z.store.state.tickets.push(ticket);
  z.store.save();
  return { user, ticket };
}

/**
 * Zendesk's user search takes minutes to show a new user; its incremental user export does not (but for
 * its last minute). Nia's user was made two minutes before her request. Before, the connector looked for
 * her by the search alone: an access request exported nothing of her, and a deletion was COMPLETED with
 * her user and ticket still in Zendesk. Now the users changed within searchLagMs are read from the export
 * (identities sideloaded, one call here) and confirmed as a search hit is. Checked against the stand-in's own data.
 */
describeEachDatabase("a helpdesk user Zendesk's search does not show yet", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector?.close();
    await z?.close();
  });

  it("is found by an access request through the export, confirmed by a verified identity, in one call", async () => {
    z = await startStandIn();
    z.store.searchLagMs = LAG_MS;
    connector = connectorFor(z, { searchLagMs: LAG_MS });
    const nia = newUser(z, "nia.new@example.org", 120_000);
    // Someone else made just as recently whose profile carries the address unverified: not proof, not read.
    const other = newUser(z, "someone@example.net", 90_000);
    z.store.state.users.find((u) => u.id === other.user.id)!.unverified_emails = ["nia.new@example.org"];
    expect(z.store.usersByEmail("nia.new@example.org"), "the search does not show them yet").to.deep.equal([]);

    const notSearched: NotSearchedRecords[] = [];
    const calls = z.calls.entries.length;
    const records = await collectAll(connector, { email: "Nia.New@example.org" }, testContext({ notSearched: (set) => void notSearched.push(set) }));
    const ids = records.map((r) => `${r.type}:${r.id}`);
    expect(ids).to.include(`user:${nia.user.id}`).and.to.include(`ticket:${nia.ticket.id}`);
    expect(ids.filter((x) => x.startsWith("user:"))).to.deep.equal([`user:${nia.user.id}`]);
    expect(ids.some((x) => x === `ticket:${other.ticket.id}`), "the unverified holder's ticket").to.equal(false);
    expect(z.calls.entries.slice(calls).filter((c) => c.path === "/api/v2/incremental/users/cursor.json")).to.have.length(1);
    expect(notSearched.some((n) => /unverified email identity/.test(n.reason)), "the unverified holder is named").to.equal(true);
  });

  it("is named not searched when Zendesk refuses the export (an agent's token)", async () => {
    z = await startStandIn();
    connector = connectorFor(z, { searchLagMs: LAG_MS });
    z.store.state.api_user_role = "agent";
    const notSearched: NotSearchedRecords[] = [];
    await collectAll(connector, { email: "nobody@example.org" }, testContext({ notSearched: (set) => void notSearched.push(set) })).catch(() => undefined);
    expect(notSearched.some((n) => n.type === "user" && /admin's API token/.test(n.reason))).to.equal(true);
  });

  it("is erased by a deletion, user and ticket, before the request is COMPLETED", async function () {
    this.timeout(60_000);
    ({ z, connector, t } = await overLaggingSearch(db(), LAG_MS));
    const nia = newUser(z, "nia.new@example.org", 120_000);

    const done = await deleteAcrossSearchLag(t, z, "nia.new@example.org", LAG_MS, REPORT);

    // Asked of the stand-in: her user is deleted for good, her ticket with its comment gone.
    expect(z.store.user(nia.user.id), "her user").to.equal(undefined);
    expect(z.store.state.tickets.some((x) => x.id === nia.ticket.id), "her ticket").to.equal(false);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
  });
});
