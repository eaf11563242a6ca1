import { expect } from "chai";
import { ConnectorError, RosterEntry } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { SAMPLE_AGENT_ID, ZendeskStandIn, ZendeskTicket } from "../../src/sample/zendesk";
import { ADA, addSuspendedTicket, closedCcThreads, connectorFor, EMAIL, GRACE_PERSON, sharedThreads, startStandIn, ticketsOf, TOKEN } from "./support/zendeskStandIn";

const ADA_ID = Number(ADA.ticketingUserId);
const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const SUPPORT = { categories: ["SUPPORT" as const] };
const LONG_AGO = "2016-01-04T10:00:00.000Z";

/** A ticket Grace opened, in the stand-in's own data, with Ada CC'd on it, a private word of Grace's, a reply of the staff and a comment of Ada's. */
function gracesTicketCcingAda(z: ZendeskStandIn, status: ZendeskTicket["status"]): ZendeskTicket {
  const id = z.store.state.nextId++;
  const comment = (authorId: number, text: string): ZendeskTicket["comments"][number] => {
    const cid = z.store.state.nextId++;
    return { id: cid, type: "Comment", author_id: authorId, body: text, html_body: `<p>${text}</p>`, plain_body: text, public: true, attachments: [], via: { channel: "email" }, created_at: LONG_AGO };
  };
  const ticket: ZendeskTicket = {
    id,
    subject: "Grace's divorce paperwork",
    description: "My card ends 4242",
    type: "question",
    priority: "normal",
    status,
    requester_id: GRACE_ID,
    submitter_id: GRACE_ID,
    assignee_id: SAMPLE_AGENT_ID,
    collaborator_ids: [ADA_ID],
    tags: [],
    via: { channel: "email" },
    created_at: LONG_AGO,
    updated_at: LONG_AGO,
    comments: [comment(GRACE_ID, "My card ends 4242"), comment(SAMPLE_AGENT_ID, "We have your papers"), comment(ADA_ID, "Ada vouches for Grace")],
  };
  z.store.state.tickets.push(ticket);
  return ticket;
}

describe("Zendesk connector truth: what it reads is all there is, and what it reports is what Zendesk holds", () => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  afterEach(async () => {
    await connector?.close();
    await z?.close();
  });

  describe("a closed ticket Grace opened that Ada is CC'd on (Zendesk takes no update of a closed ticket)", () => {
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });

    it("erases Ada, redacts her comment there, leaves Grace's words, and counts the ticket's record with her user deleted for good", async () => {
      const ticket = gracesTicketCcingAda(z, "closed");
      const collected = await collectAll(connector, ADA);
      const onIt = collected.filter((r) => r.type !== "user" && (r.id === String(ticket.id) || (r.data as { ticket_id?: number }).ticket_id === ticket.id));
      // Ada's part: that she was on it, and her own words; none of Grace's.
      expect(onIt.map((r) => r.type).sort()).to.deep.equal(["comment", "ticket"]);
      expect(JSON.stringify(onIt)).not.to.match(/4242|divorce|We have your papers/);
      expect(onIt.find((r) => r.type === "ticket")!.inseparable, "the record goes with her user, or stays with it").to.equal(true);
      const closed = closedCcThreads(z, ADA_ID);
      expect(closed.map((t) => t.id)).to.include(ticket.id);
      const openCc = ticketsOf(z, ADA_ID).filter(({ role, ticket: t }) => role === "cc" && t.status !== "closed").length;

      // Before: Zendesk's 422 on the CC removal failed the erasure for good (not retryable), after her comments were redacted.
      const outcome = await connector.erase(ADA, SUPPORT, testContext());
      expect((outcome.residual ?? []).filter((r) => r.type === "ticket").reduce((n, r) => n + r.count, 0), "tickets residual: only the shared threads'").to.equal(sharedThreads(z, ADA_ID).length);
      // Every record collect found is counted once: erased (the closed tickets' with her user) or residual.
      const residual = (outcome.residual ?? []).reduce((n, r) => n + r.count, 0);
      expect(outcome.erased + residual).to.equal(collected.length);

      // Asked of the stand-in: Grace's ticket and words are whole, Ada's words are gone, the CC stays, Ada's user is deleted for good.
      const after = z.store.ticket(ticket.id)!;
      expect(after.subject).to.equal("Grace's divorce paperwork");
      expect(after.comments.map((c) => c.plain_body).slice(0, 2)).to.deep.equal(["My card ends 4242", "We have your papers"]);
      expect(after.comments[2].plain_body).to.match(/^[\s▇]+$/u);
      // The CC stays, naming a user Zendesk deleted for good (nothing of her left behind it).
      expect(after.collaborator_ids).to.deep.equal([ADA_ID]);
      expect(z.store.user(ADA_ID)).to.equal(undefined);
      expect(z.store.deletedUsers().find((u) => u.id === ADA_ID)).to.deep.include({ email: null, name: "Permanently Deleted User" });
      expect(z.store.effects.ccRemovals, "only open tickets' CCs were removed").to.equal(openCc);
    });

    it("keeps the ticket's record with Ada's user, when retention keeps her user (another thread inside the rule)", async () => {
      const ticket = gracesTicketCcingAda(z, "closed");
      const since = new Date(Date.now() - 30 * 86_400_000);
      // One of Ada's own threads is active today: it is kept, and her user with it.
      const own = z.store.ticketsRequestedBy(ADA_ID)[0];
      own.updated_at = new Date().toISOString();
      const outcome = await connector.erase(ADA, { categories: ["SUPPORT"], keepRecordedSince: { SUPPORT: since } }, testContext());
      const keptTickets = (outcome.kept ?? []).find((k) => k.type === "ticket")!;
      // Kept: her own active thread and the closed tickets she is CC'd on, dated like her user (the newest kept).
      expect(keptTickets.count).to.equal(1 + closedCcThreads(z, ADA_ID, since).length);
      expect(z.store.user(ADA_ID)?.active, "her user, kept").to.equal(true);
      expect(z.store.ticket(ticket.id)!.collaborator_ids).to.deep.equal([ADA_ID]);
      expect(z.store.ticket(ticket.id)!.comments[2].plain_body, "her words on it, redacted").to.match(/^[\s▇]+$/u);
    });

    it("takes Ada off the CCs of an open one, as before", async () => {
      const ticket = gracesTicketCcingAda(z, "open");
      await connector.erase(ADA, SUPPORT, testContext());
      expect(z.store.ticket(ticket.id)!.collaborator_ids).to.deep.equal([]);
      expect(z.store.ticket(ticket.id)!.comments[0].plain_body).to.equal("My card ends 4242");
    });
  });

  describe("an inline image and a mailto: link in Ada's comment on a ticket Grace opened", () => {
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });

    it("exports the image, and erasure stops Zendesk serving it and takes the address out of the link", async () => {
      const ticket = gracesTicketCcingAda(z, "open");
      const id = z.store.state.nextId++;
      const path = `/attachments/token/inl${id}/?name=passport.png`;
      const html = `<p>My passport, and write to <a href="mailto:${ADA.email}">me</a></p><p><img src="${z.url}${path}" alt="passport.png"></p>`;
      ticket.comments.push({
        id,
        type: "Comment",
        author_id: ADA_ID,
        body: "My passport, and write to me",
        html_body: html,
        plain_body: "My passport, and write to me",
        public: true,
        attachments: [{ id: z.store.state.nextId++, file_name: "passport.png", content_type: "image/png", size: 90_000, inline: true, content_path: path }],
        via: { channel: "web" },
        created_at: LONG_AGO,
      });
      const served = async () => (await fetch(`${z.url}${path}`, { headers: { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` } })).status;
      expect(await served(), "Zendesk serves the image").to.equal(200);

      // Before: Zendesk lists inline images only with include_inline_images=true: the image was neither exported nor redacted.
      const collected = await collectAll(connector, ADA);
      expect(collected.filter((r) => r.type === "attachment" && (r.data as { comment_id: number }).comment_id === id).map((r) => r.data)).to.deep.include.members([
        { ticket_id: ticket.id, comment_id: id, file_name: "passport.png", content_type: "image/png", size: 90_000, created_at: LONG_AGO },
      ]);

      await connector.erase(ADA, SUPPORT, testContext());
      const after = z.store.ticket(ticket.id)!.comments.find((c) => c.id === id)!;
      // Before: the image went on being served (200), and the html kept <img> and the mailto: with Ada's address.
      expect(await served(), "Zendesk serves the image after Ada's erasure").to.equal(404);
      expect(after.html_body).not.to.include(ADA.email);
      expect(after.html_body).not.to.match(/<img|<a\b/);
      expect(after.plain_body).to.match(/^[\s▇]+$/u);
      expect(after.attachments.map((a) => a.file_name)).to.deep.equal(["redacted.txt"]);
      // Grace's words stay.
      expect(z.store.ticket(ticket.id)!.comments[0].plain_body).to.equal("My card ends 4242");
    });
  });

  describe("the breach roster's held-back senders", () => {
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });

    it("lists 1,000 senders no user holds in a few calls, and still passes over those a user holds, primary or secondary", async () => {
      const at = new Date();
      for (let i = 0; i < 1_000; i += 1) addSuspendedTicket(z, `sender${i}@spam.example`, `s${i}`, at);
      // Grace holds a second address, verified: her held-back mail from it is hers, not a stranger's.
      z.store.user(GRACE_ID)!.secondary_emails = ["grace.alt@example.org"];
      addSuspendedTicket(z, "grace.alt@example.org", "g", at);
      addSuspendedTicket(z, ADA.email, "a", at);
      z.calls.clear();
      const entries: RosterEntry[] = [];
      for await (const e of connector.listSubjects(testContext())) entries.push(e);
      const senders = entries.filter((e) => !e.identities.ticketingUserId);
      expect(senders).to.have.length(1_000);
      expect(senders.every((e) => /^sender\d+@spam\.example$/.test(e.identities.email!) && e.records === 1)).to.equal(true);
      // Before: one user search per sender, 1,002 of 1,015 calls (5 minutes at Zendesk Team's 200 a minute).
      expect(z.calls.count("GET", /\/users\/search/), "user searches").to.be.at.most(3);
      expect(z.calls.total).to.be.below(25);
    });
  });

  describe("an answer that is not what was asked for", () => {
    beforeEach(async () => {
      z = await startStandIn();
    });

    it("stops the erasure, retryable, when the list of Ada's tickets answers 200 with an error body, and touches nothing", async () => {
      connector = connectorFor(z);
      const requested = z.store.ticketsRequestedBy(ADA_ID).map((t) => t.id);
      expect(requested.length).to.be.greaterThan(0);
      z.faults.add({ kind: "200-error", method: "GET", path: "/tickets/requested", times: 10 });
      // Before: the error body read as "no tickets": the erasure deleted Ada's user for good and reported done, her 4 threads untouched.
      const error = await connector.erase(ADA, SUPPORT, testContext()).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      expect(z.store.user(ADA_ID)?.active, "Ada's user, asked of the stand-in").to.equal(true);
      expect(z.store.ticketsRequestedBy(ADA_ID).map((t) => t.id)).to.deep.equal(requested);
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 0, userPermanentDeletes: 0, ticketSoftDeletes: 0 });
    });

    it("stops the erasure, retryable, when the user read by ticketing user id answers 200 with an error body", async () => {
      connector = connectorFor(z);
      // Ada wrote in under an address Zendesk does not hold: only her ticketing user id leads to her user.
      const subject = { email: "ada.new@example.org", ticketingUserId: ADA.ticketingUserId };
      z.faults.add({ kind: "200-error", method: "GET", path: `/users/${ADA_ID}.json`, times: 10 });
      // Before: the error body read as "no such user": the erasure erased 0 and reported done.
      const error = await connector.erase(subject, SUPPORT, testContext()).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      z.faults.clear();
      const outcome = await connector.erase(subject, SUPPORT, testContext());
      expect(outcome.erased).to.be.greaterThan(0);
      expect(z.store.user(ADA_ID)).to.equal(undefined);
    });

    it("stops collect and erase, retryable, when a cursor page says more follow and gives no link to them", async () => {
      connector = connectorFor(z, { pageSize: 1 });
      const requested = z.store.ticketsRequestedBy(ADA_ID).map((t) => t.id);
      expect(requested.length, "more than one page of Ada's tickets").to.be.greaterThan(1);
      z.faults.add({ kind: "cut-cursor", method: "GET", path: "/tickets/requested", times: 1 });
      // Before: collect returned the first of her threads only, as if it were all.
      const collected = await collectAll(connector, ADA).catch((e: unknown) => e);
      expect(collected).to.be.instanceOf(ConnectorError);
      expect((collected as ConnectorError).retryable).to.equal(true);
      z.faults.add({ kind: "cut-cursor", method: "GET", path: "/tickets/requested", times: 1 });
      // Before: the erasure deleted one of her threads and her user for good, and reported done.
      const error = await connector.erase(ADA, SUPPORT, testContext()).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect(z.store.user(ADA_ID)?.active, "not deleted while threads of hers were not read").to.equal(true);
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 0 });
      // The next attempt reads every page and finishes: of her threads only those another customer wrote on stay.
      const shared = sharedThreads(z, ADA_ID).map((t) => t.id);
      await connector.erase(ADA, SUPPORT, testContext({ attempt: 2 }));
      expect(z.store.ticketsRequestedBy(ADA_ID).map((t) => t.id)).to.deep.equal(shared);
      expect(z.store.user(ADA_ID)).to.equal(undefined);
    });
  });
});
