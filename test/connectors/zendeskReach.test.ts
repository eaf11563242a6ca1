import { expect } from "chai";
import { NotSearchedRecords, SubjectRecord } from "../../src/connectors/sdk";
import { collectAll, eraseFully, testContext } from "../../src/connectors/testing/conformance";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { LEFT_OUT_REASON, SIDE_CONVERSATION_REASON, SIDE_LEFT_OUT_REASON, SIDE_REFUSED_REASON } from "../../src/connectors/zendesk/records";
import { SENDERS_BEYOND_SCAN } from "../../src/connectors/zendesk/roster";
import { ZendeskSideConversation, ZendeskStandIn, ZendeskTicket } from "../../src/sample/zendesk";
import { ConnectorError } from "../../src/connectors/sdk";
import { ADA, ADA_PERSON, addSuspendedTicket, connectorFor, GRACE_PERSON, notingContext, outcomeCounts, redactedToNothing, startStandIn } from "./support/zendeskStandIn";

const ADA_ID = Number(ADA.ticketingUserId);
const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const SUPPORT = { categories: ["SUPPORT"] };
const LONG_AGO = "2016-01-04T10:00:00.000Z";

/** Notes what collect says it did not search, or left out. */
function watched() {
  const notSearched: NotSearchedRecords[] = [];
  const leftOut: { type: string; count: number; reason: string }[] = [];
  const ctx = testContext({ notSearched: (set) => void notSearched.push(set), leftOut: (set) => void leftOut.push(set) });
  return { ctx, notSearched, leftOut };
}

/** A comment by `authorId` on `ticket`, in the stand-in's own data (as Zendesk stores one that came by email), with one attachment. */
function addComment(z: ZendeskStandIn, ticket: ZendeskTicket, authorId: number, text: string): ZendeskTicket["comments"][number] {
  const id = z.store.state.nextId++;
  const comment: ZendeskTicket["comments"][number] = {
    id,
    type: "Comment",
    author_id: authorId,
    body: text,
    html_body: `<div class="zd-comment" dir="auto"><p>${text}</p></div>`,
    plain_body: text,
    public: true,
    attachments: [{ id: z.store.state.nextId++, file_name: "photo.png", content_type: "image/png", size: 4_321, inline: false, content_path: `/attachments/token/c${id}/?name=photo.png` }],
    via: { channel: "email" },
    created_at: ticket.updated_at,
  };
  ticket.comments.push(comment);
  return comment;
}

describe("Zendesk connector reach: exactly the subject, and all of her", () => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  afterEach(async () => {
    await connector?.close();
    await z?.close();
  });

  describe("a user found by the subject's address whose external_id names another account (accountExternalId)", () => {
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z, { accountExternalId: true });
      // Ada's own user is under an address she no longer uses; Grace's user (external_id: Grace's
      // account) holds Ada's address as a verified secondary identity (a shared family address).
      z.store.user(ADA_ID)!.email = "ada.old@example.org";
      z.store.user(GRACE_ID)!.secondary_emails = [ADA_PERSON.email];
      for (const t of z.store.state.tickets.filter((x) => x.requester_id === GRACE_ID)) t.updated_at = LONG_AGO;
    });

    it("is neither read nor erased for Ada, and collect names it not searched", async () => {
      const subject = { email: ADA_PERSON.email, userId: ADA_PERSON.userId };
      expect(z.store.user(GRACE_ID)!.external_id).to.equal(GRACE_PERSON.userId);
      const grace = () => JSON.stringify({ user: z.store.user(GRACE_ID), tickets: z.store.state.tickets.filter((t) => t.requester_id === GRACE_ID || t.collaborator_ids.includes(GRACE_ID)) });
      const before = grace();
      const { ctx, notSearched } = watched();
      const records = await collectAll(connector, subject, ctx);
      // Before: Grace's profile, her tickets and comments (24 records) went into Ada's collect.
      expect(records.filter((r) => r.type !== "suspended_ticket").map((r) => `${r.type}:${r.id}`), "records of Grace's user").to.deep.equal([]);
      expect(notSearched.filter((n) => n.type === "user" && /external id names an account on the platform not known to be the subject's/.test(n.reason))).to.have.length(1);
      const erased = await eraseFully(connector, subject, SUPPORT);
      // Before: the erase deleted Grace's threads and her user.
      expect(erased).to.equal(0);
      expect(grace(), "Grace's user and tickets at Zendesk").to.equal(before);
    });

    it("is passed over too when the subject's own user id is not known (no account to match it against)", async () => {
      const { ctx, notSearched } = watched();
      expect(await collectAll(connector, { email: ADA_PERSON.email }, ctx)).to.deep.equal([]);
      expect(notSearched.filter((n) => n.type === "user" && /not known to be the subject's/.test(n.reason))).to.have.length(1);
    });

    it("is still taken when its external_id is the subject's own user id", async () => {
      z.store.user(GRACE_ID)!.external_id = ADA_PERSON.userId;
      const records = await collectAll(connector, { email: ADA_PERSON.email, userId: ADA_PERSON.userId });
      expect(records.find((r) => r.type === "user")?.id).to.equal(String(GRACE_ID));
    });
  });

  describe("comments the subject wrote on other people's tickets she is neither requester nor CC of", () => {
    let graces: ZendeskTicket;
    let mine: ZendeskTicket["comments"];
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
      // Ada was CC'd on one of Grace's threads and wrote on it twice, then was taken off the CCs.
      graces = z.store.ticketsRequestedBy(GRACE_ID).find((t) => !t.collaborator_ids.includes(ADA_ID))!;
      graces.updated_at = LONG_AGO;
      mine = [addComment(z, graces, ADA_ID, "Ada here: my card ends 4242."), addComment(z, graces, ADA_ID, "Ada again: call me on 555-0100.")];
      expect(z.store.ticketsCcing(ADA_ID).map((t) => t.id)).not.to.include(graces.id);
    });

    it("exports her own comments there (and only hers), with the fact she wrote on the ticket, and leaves the others' out", async () => {
      const { ctx, leftOut } = watched();
      const records = await collectAll(connector, ADA, ctx);
      const onGraces = records.filter((r) => r.data.ticket_id === graces.id || (r.type === "ticket" && r.id === String(graces.id)));
      // Before: none (0 of her 2 comments and 2 attachments there).
      const key = (r: SubjectRecord) => `${r.type}:${r.id}`;
      expect(onGraces.map(key).sort()).to.deep.equal(
        [`ticket:${graces.id}`, ...mine.map((c) => `comment:${c.id}`), ...mine.map((c) => `attachment:${c.attachments[0].id}`)].sort(),
      );
      const ticket = onGraces.find((r) => r.type === "ticket")!;
      expect(ticket.data).to.include({ your_role: "commenter", subject: null, status: null });
      const others = graces.comments.filter((c) => c.author_id !== ADA_ID).length;
      const offOwn = leftOut.find((l) => l.reason === LEFT_OUT_REASON)!;
      const ccOthers = z.store.ticketsCcing(ADA_ID).filter((t) => t.requester_id !== ADA_ID).flatMap((t) => t.comments.filter((c) => c.author_id !== ADA_ID)).length;
      expect(offOwn.count).to.equal(ccOthers + others);
    });

    it("redacts her comments there on deletion, leaves the others' words and the ticket, and finds nothing of hers after", async () => {
      const othersBefore = JSON.stringify(graces.comments.filter((c) => c.author_id !== ADA_ID));
      // What a deletion plans to erase: all collect finds but what stays on threads another customer wrote on (residual).
      const planned = (await collectAll(connector, ADA)).filter((r) => !r.residualOnErasure).length;
      const erased = await eraseFully(connector, ADA, SUPPORT);
      expect(erased).to.equal(planned);
      // Before: both comments (text "my card ends 4242", "555-0100") and their attachments were still in Zendesk.
      for (const c of mine) expect(redactedToNothing(c), `comment ${c.id} redacted`).to.equal(true);
      expect(JSON.stringify(z.store.ticket(graces.id)!.comments.filter((c) => c.author_id !== ADA_ID)), "the others' comments").to.equal(othersBefore);
      expect(z.store.ticket(graces.id), "Grace's ticket").not.to.equal(undefined);
      // Nothing Ada wrote is left unredacted anywhere in the helpdesk.
      const left = z.store.state.tickets.filter((t) => !t.deleted_at).flatMap((t) => t.comments.filter((c) => c.author_id === ADA_ID && !redactedToNothing(c)));
      expect(left).to.deep.equal([]);
    });

    it("keeps that thread with her comments under the retention rule, counted in kept, and redacts nothing", async () => {
      graces.updated_at = new Date().toISOString();
      const outcome = await connector.erase(ADA, { ...SUPPORT, keepRecordedSince: { SUPPORT: new Date(Date.now() - 86_400_000).toISOString() } } as never, testContext());
      for (const c of mine) expect(redactedToNothing(c)).to.equal(false);
      const kept = Object.fromEntries((outcome.kept ?? []).map((k) => [k.type, k.count]));
      expect(kept.comment).to.be.at.least(2);
      expect(kept.user).to.equal(1);
    });
  });

  describe("side conversations of her tickets", () => {
    const VENDOR = { user_id: null, name: "Parts Vendor", email: "orders@vendor.example" };
    const AGENT = { user_id: 9_000_001, name: "Sam Support", email: "sam.support@support.example.com" };
    let own: ZendeskTicket;
    let ccd: ZendeskTicket;
    type Participant = ZendeskSideConversation["participants"][number];
    /** A side conversation on `ticket` with one message per [sender, text, recipients (the agent unless told)]. */
    const converse = (ticket: ZendeskTicket, id: string, messages: [Participant, string, Participant[]?][]): ZendeskSideConversation => {
      const participants = [...new Map(messages.flatMap(([p, , to]) => [p, ...(to ?? [])]).map((p) => [p.email, p])).values()];
      const sc: ZendeskSideConversation = {
        id,
        subject: `About ticket ${ticket.id}`,
        state: "open",
        participants: [AGENT, ...participants.filter((p) => p !== AGENT)],
        events: messages.map(([from, text, to], i) => ({ id: `${id}-e${i}`, type: i ? "reply" : "create", actor: from, message: { subject: null, body: text, html_body: `<p>${text}</p>`, from, to: to ?? [AGENT] }, created_at: ticket.updated_at })),
        created_at: ticket.updated_at,
        updated_at: ticket.updated_at,
      };
      ticket.side_conversations = [...(ticket.side_conversations ?? []), sc];
      return sc;
    };
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
      const adaUser = { user_id: ADA_ID, name: ADA_PERSON.name, email: ADA_PERSON.email };
      // A thread Ada requested that no other customer wrote on (deleted whole), and one of Grace's she is CC'd on.
      own = z.store.ticketsRequestedBy(ADA_ID).find((t) => t.comments.every((c) => c.author_id === ADA_ID || c.author_id === 9_000_001))!;
      ccd = z.store.ticketsCcing(ADA_ID).find((t) => t.requester_id !== ADA_ID)!;
      for (const t of [own, ccd]) t.updated_at = LONG_AGO;
      // The agent writes to Ada, she answers, and the vendor tells the agent (not Ada) what it did.
      converse(own, "sc-own", [[AGENT, "Ada, the vendor asks for your serial number.", [adaUser]], [adaUser, "Serial AX-1234, bought in May."], [VENDOR, "Replacement shipped to Ada."]]);
      converse(own, "sc-vendor", [[AGENT, "Any stock left?"], [VENDOR, "Yes, two units."]]);
      // On Grace's thread Ada answered from her address as an outside participant.
      const adaOutside = { user_id: null, name: "Ada", email: ADA_PERSON.email.toUpperCase() };
      converse(ccd, "sc-ccd", [[AGENT, "Can you confirm what Grace said?", [adaOutside]], [adaOutside, "Yes, I saw it happen."]]);
    });

    it("reads every page of a ticket's side conversations and of their messages (Zendesk answers them by offset)", async () => {
      // 120 side conversations without her, then one with 130 messages she sent: each list is past one page of 100.
      for (let i = 0; i < 120; i += 1) converse(own, `sc-other-${i}`, [[AGENT, "Any stock left?"], [VENDOR, "No."]]);
      const adaUser = { user_id: ADA_ID, name: ADA_PERSON.name, email: ADA_PERSON.email };
      converse(own, "sc-long", Array.from({ length: 130 }, (_, i): [Participant, string] => [adaUser, `Reply ${i} from Ada`]));
      const records = await collectAll(connector, ADA, testContext());
      // Before: only the first page of each list was read (0 of these 130 found: the side conversation is on the list's second page).
      expect(records.filter((r) => r.type === "side_conversation_message" && r.id.startsWith("sc-long-")).map((r) => r.data.body)).to.deep.equal(Array.from({ length: 130 }, (_, i) => `Reply ${i} from Ada`));
    });

    it("exports the messages she sent and those sent to her (and only those), and leaves the others' out", async () => {
      const { ctx, leftOut } = watched();
      const records = await collectAll(connector, ADA, ctx);
      const side = records.filter((r) => r.type === "side_conversation_message");
      // Before: only the 2 she sent; the agent's 2 messages to her were counted left out (3 with the vendor's).
      expect(side.map((r) => [r.id, r.data.sent_by_you, r.data.body, r.residualOnErasure ?? null])).to.deep.equal([
        ["sc-own-e0", false, "Ada, the vendor asks for your serial number.", null],
        ["sc-own-e1", true, "Serial AX-1234, bought in May.", null],
        ["sc-ccd-e0", false, "Can you confirm what Grace said?", SIDE_CONVERSATION_REASON],
        ["sc-ccd-e1", true, "Yes, I saw it happen.", SIDE_CONVERSATION_REASON],
      ]);
      // The vendor's message to the agent is between other people: never exported, counted left out.
      expect(records.filter((r) => r.data.body === "Replacement shipped to Ada.")).to.deep.equal([]);
      expect(leftOut.filter((l) => l.reason === SIDE_LEFT_OUT_REASON).map((l) => l.count)).to.deep.equal([1]);
      // The side conversation she is not on is not read message by message.
      expect(z.calls.entries.filter((e) => e.path.includes("sc-vendor"))).to.deep.equal([]);
    });

    it("deletes hers with a thread deleted whole, and names the one Zendesk cannot erase residual, never erased", async () => {
      const planned = (await collectAll(connector, ADA)).filter((r) => !r.residualOnErasure).length;
      const outcome = await connector.erase(ADA, SUPPORT, testContext());
      expect(outcome.erased).to.equal(planned);
      expect(z.store.state.tickets.find((t) => t.id === own.id), "her own thread, with its side conversations").to.equal(undefined);
      // What Zendesk still holds on Grace's thread: the agent's message to Ada and her answer, which no call can redact.
      expect(z.store.ticket(ccd.id)!.side_conversations![0].events.map((e) => e.message.body)).to.deep.equal(["Can you confirm what Grace said?", "Yes, I saw it happen."]);
      expect(outcomeCounts(outcome).residual.side_conversation_message).to.equal(2);
      expect(outcome.residual!.find((r) => r.type === "side_conversation_message")!.reason).to.equal(SIDE_CONVERSATION_REASON);
    });

    it("still names those messages residual when a retry finishes the user's permanent delete (whose answer was lost) by its note", async () => {
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1, afterEffect: true });
      const notes: string[] = [];
      expect(await connector.erase(ADA, SUPPORT, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
      expect(z.store.user(ADA_ID), "deleted for good").to.equal(undefined);
      const again = await connector.erase(ADA, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes }));
      expect(outcomeCounts(again).residual.side_conversation_message).to.equal(2);
    });

    describe("on an account without the Collaboration add-on (Zendesk answers 403 to side conversations)", () => {
      beforeEach(() => {
        z.store.state.collaboration_add_on = false;
      });
      const sideListCalls = () => z.calls.entries.filter((e) => /\/side_conversations\.json$/.test(e.path));

      it("collects everything else and names side conversation messages not searched, asking once", async () => {
        const { ctx, notSearched } = watched();
        // Before: the 403 failed the whole collect ("Zendesk refused the credentials"), not retried.
        const records = await collectAll(connector, ADA, ctx);
        expect(records.filter((r) => r.type === "ticket").map((r) => r.id)).to.include.members([String(own.id), String(ccd.id)]);
        expect(records.filter((r) => r.type === "side_conversation_message")).to.deep.equal([]);
        expect(notSearched.filter((n) => n.type === "side_conversation_message").map((n) => n.reason)).to.deep.equal([SIDE_REFUSED_REASON]);
        expect(sideListCalls().map((e) => e.status)).to.deep.equal([403]);
      });

      it("erases what it can, names them not searched, and counts none of them erased or residual", async () => {
        const { ctx, notSearched } = watched();
        const planned = (await collectAll(connector, ADA)).filter((r) => !r.residualOnErasure).length;
        const outcome = await connector.erase(ADA, SUPPORT, Object.assign(testContext(), { notSearched: ctx.notSearched }));
        expect(outcome.erased).to.equal(planned);
        expect(outcomeCounts(outcome).residual.side_conversation_message ?? 0).to.equal(0);
        expect(notSearched.filter((n) => n.type === "side_conversation_message")).to.have.length(1);
        expect(z.store.ticket(ccd.id)!.side_conversations![0].events, "Zendesk still holds them").to.have.length(2);
      });
    });
  });

  describe("the held-back (suspended) queue", () => {
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });

    it("is read up to suspendedScanLimit emails per collect and erase, and the rest is named not searched", async () => {
      const at = new Date(Date.now() - 86_400_000);
      addSuspendedTicket(z, ADA_PERSON.email, "ada-early", at);
      for (let i = 0; i < 5_000; i += 1) addSuspendedTicket(z, `sender${i}@elsewhere.example`, `s${i}`, at);
      const late = addSuspendedTicket(z, ADA_PERSON.email, "ada-late", at);
      const calls = () => z.calls.entries.filter((c) => c.path.startsWith("/api/v2/suspended_tickets")).length;
      const { ctx, notSearched } = watched();
      const records = await collectAll(connector, ADA, ctx);
      const collectCalls = calls();
      // Before: the whole queue, 51 calls (5,002 emails, 100 a page), and no word of a limit.
      expect(collectCalls).to.equal(10);
      expect(records.filter((r) => r.type === "suspended_ticket").map((r) => r.data.subject)).to.deep.equal(["Suspended ada-early"]);
      expect(notSearched.filter((n) => n.type === "suspended_ticket").map((n) => n.reason)).to.satisfy((r: string[]) => r.length === 1 && /past the first 1000/.test(r[0]));
      await connector.erase(ADA, SUPPORT, testContext());
      expect(calls() - collectCalls, "erase's reads of the queue, and its one delete").to.equal(11);
      expect(z.store.suspendedTickets().map((s) => s.id)).to.include(late.id);
    });

    it("is read by the roster up to suspendedScanLimit too, and the senders past it are named not listed", async () => {
      const at = new Date(Date.now() - 86_400_000);
      addSuspendedTicket(z, "early.sender@elsewhere.example", "early", at);
      for (let i = 0; i < 5_000; i += 1) addSuspendedTicket(z, `sender${i}@elsewhere.example`, `s${i}`, at);
      addSuspendedTicket(z, "late.sender@elsewhere.example", "late", at);
      const notListed: string[] = [];
      const ctx = { logger: testContext().logger, signal: new AbortController().signal, heartbeat: async () => {}, notListed: (what: string) => void notListed.push(what) };
      const emails: string[] = [];
      for await (const entry of connector.listSubjects(ctx)) if (entry.identities.email) emails.push(entry.identities.email);
      // Before: the whole queue, 51 calls (5,002 emails, 100 a page), the late sender listed, and no word of a limit.
      expect(z.calls.entries.filter((c) => c.path.startsWith("/api/v2/suspended_tickets")).length).to.equal(10);
      expect(emails).to.include("early.sender@elsewhere.example");
      expect(emails).not.to.include("late.sender@elsewhere.example");
      expect(notListed).to.deep.equal([SENDERS_BEYOND_SCAN(1000)]);
    });

    it("says nothing of a limit when the queue ends at it", async () => {
      const at = new Date(Date.now() - 86_400_000);
      for (let i = 0; i < 200; i += 1) addSuspendedTicket(z, `sender${i}@elsewhere.example`, `s${i}`, at);
      const limited = connectorFor(z, { suspendedScanLimit: 200 });
      try {
        const { ctx, notSearched } = watched();
        await collectAll(limited, ADA, ctx);
        expect(notSearched.filter((n) => n.type === "suspended_ticket")).to.deep.equal([]);
        addSuspendedTicket(z, `one.more@elsewhere.example`, "more", at);
        const again = watched();
        await collectAll(limited, ADA, again.ctx);
        expect(again.notSearched.filter((n) => n.type === "suspended_ticket")).to.have.length(1);
      } finally {
        await limited.close();
      }
    });
  });
});
