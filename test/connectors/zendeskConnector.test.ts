import { expect } from "chai";
import { suspendedNote, userNote, userOfNote } from "../../src/connectors/zendesk/notes";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConnectorConfigError, ConnectorError, normalizeEmail, NotSearchedRecords, RosterEntry, SubjectRecord } from "../../src/connectors/sdk";
import { collectAll, describeConnectorConformance, listAll, testContext } from "../../src/connectors/testing/conformance";
import { createZendeskConnector, ZendeskConnector } from "../../src/connectors/zendesk";
import { LEFT_OUT_REASON, LEFT_OUT_SHARED_REASON } from "../../src/connectors/zendesk/records";
import { loadConnectorsFile } from "../../src/orchestrator/connectorsFile";
import { SAMPLE_EPOCH } from "../../src/sample/people";
import { REDACTED, SAMPLE_AGENT_ID, ZendeskStandIn, ZendeskUser } from "../../src/sample/zendesk";
import {
  ADA,
  addSuspendedTicket,
  BJORN,
  BJORN_PERSON,
  connectorFor,
  EMAIL,
  expectedRecordCount,
  GRACE,
  GRACE_PERSON,
  isStaff,
  notingContext,
  othersWroteOn,
  outcomeCounts,
  ownRedactable,
  RetryLog,
  sharedResidue,
  closedCcThreads,
  sharedThreads,
  startStandIn,
  ticketsOf,
  ticketsTiedTo,
  TOKEN,
  withRetries,
  ZOE,
} from "./support/zendeskStandIn";

const ADA_ID = Number(ADA.ticketingUserId);
const FIVE_YEARS_AGO = new Date(Date.UTC(SAMPLE_EPOCH.getUTCFullYear() - 5, SAMPLE_EPOCH.getUTCMonth(), SAMPLE_EPOCH.getUTCDate()));
const SUPPORT = { categories: ["SUPPORT"] };
const byType = (records: SubjectRecord[], type: string) => records.filter((r) => r.type === type);
/** Ada's unredacted comments an erasure redacts: on threads she was only CC'd on, and on threads she requested that another customer wrote on. */
const adasLiveComments = (z: ZendeskStandIn) => ownRedactable(z, ADA_ID);

describe("Zendesk connector", () => {
  describeConnectorConformance("ticketing (Zendesk stand-in)", async () => {
    const standIn = await startStandIn();
    const connector = connectorFor(standIn, { readRetries: 1 });
    const badConnector = connectorFor(standIn, { apiToken: "not-the-token" });
    return {
      connector,
      badConnector,
      subject: ADA,
      otherSubject: GRACE,
      mixedCaseSubject: ZOE,
      internationalDomainSubject: BJORN,
      expectedRecordCount: expectedRecordCount(standIn, ADA_ID),
      injectRetryableFault: async () => {
        const remove = standIn.faults.add({ kind: "500" });
        return async () => remove();
      },
      teardown: async () => {
        await connector.close();
        await badConnector.close();
        await standIn.close();
      },
    };
  });

  describe("with a stand-in", () => {
    let z: ZendeskStandIn;
    let connector: ZendeskConnector;
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });
    afterEach(async () => {
      await connector.close();
      await z.close();
    });

    it("follows links.next through every page and heartbeats per page, when pages hold two items", async () => {
      const small = connectorFor(z, { pageSize: 2 });
      const ctx = testContext();
      const paged = await collectAll(small, ADA, ctx);
      await small.close();
      const requestedPages = z.calls.entries.filter((e) => e.path === `/api/v2/users/${ADA_ID}/tickets/requested.json`).length;
      const whole = await collectAll(connector, ADA);
      expect(paged.map((r) => `${r.type}:${r.id}`)).to.deep.equal(whole.map((r) => `${r.type}:${r.id}`));
      expect(paged).to.have.length(expectedRecordCount(z, ADA_ID));
      expect(requestedPages, "one call per page: the last page says has_more false").to.equal(Math.ceil(z.store.ticketsRequestedBy(ADA_ID).length / 2));
      expect(ctx.heartbeats).to.be.greaterThan(requestedPages);
    });

    it("serves offset pagination (next_page, count) when a call carries no page[size]", async () => {
      const auth = { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` };
      const first = (await (await fetch(`${z.url}/api/v2/users/${ADA_ID}/tickets/requested.json?per_page=5`, { headers: auth })).json()) as { tickets: unknown[]; next_page: string; count: number };
      expect(first.tickets).to.have.length(5);
      expect(first.count).to.equal(z.store.ticketsRequestedBy(ADA_ID).length);
      const second = (await (await fetch(first.next_page, { headers: auth })).json()) as { tickets: unknown[]; next_page: string | null };
      expect(second.tickets).to.have.length(first.count - 5);
      expect(second.next_page).to.equal(null);
    });

    it("returns the tickets the subject was CC'd on, each once, with only their own comments, and reports the others left out", async () => {
      const ccd = z.store.ticketsCcing(ADA_ID);
      expect(ccd.length, "the seed CCs Ada on someone else's tickets").to.be.greaterThan(0);
      const leftOut: unknown[] = [];
      const records = await collectAll(connector, ADA, testContext({ leftOut: (set) => void leftOut.push(set) }));
      const tickets = byType(records, "ticket");
      expect(new Set(tickets.map((t) => t.id)).size).to.equal(tickets.length);
      for (const t of ccd) {
        const record = tickets.find((r) => r.id === String(t.id));
        expect(record?.data.your_role).to.equal("cc");
        const comments = byType(records, "comment").filter((c) => c.data.ticket_id === t.id);
        expect(comments.map((c) => c.id)).to.deep.equal(t.comments.filter((c) => c.author_id === ADA_ID).map((c) => String(c.id)));
      }
      const others = ccd.filter((t) => t.requester_id !== ADA_ID).flatMap((t) => t.comments.filter((c) => c.author_id !== ADA_ID));
      expect(others.length, "the CC'd threads hold other people's comments").to.be.greaterThan(0);
      const customers = z.store.ticketsRequestedBy(ADA_ID).flatMap((t) => t.comments.filter((c) => c.author_id !== ADA_ID && !isStaff(z, c.author_id)));
      expect(customers.length, "customers copied in wrote on Ada's own threads").to.be.greaterThan(0);
      expect(leftOut).to.deep.equal([
        { category: "SUPPORT", type: "comment", count: others.length, reason: LEFT_OUT_REASON },
        { category: "SUPPORT", type: "comment", count: customers.length, reason: LEFT_OUT_SHARED_REASON },
      ]);
      // Ada's own tickets that CC someone else still come once, as hers.
      const ccing = z.store.ticketsRequestedBy(ADA_ID).filter((t) => t.collaborator_ids.length);
      expect(ccing.length).to.be.greaterThan(0);
      for (const t of ccing) expect(tickets.filter((r) => r.id === String(t.id)).map((r) => r.data.your_role)).to.deep.equal(["requester"]);
      const attachments = byType(records, "attachment");
      expect(attachments.length).to.be.greaterThan(0);
      for (const a of attachments) expect(Object.keys(a.data).sort()).to.deep.equal(["comment_id", "content_type", "created_at", "file_name", "size", "ticket_id"]);
    });

    it("keeps threads active within 5 years with the user, redacts Ada's older comments, and reports what it kept", async () => {
      const mine = ticketsOf(z, ADA_ID);
      const recent = mine.filter(({ ticket }) => Date.parse(ticket.updated_at) >= FIVE_YEARS_AGO.getTime());
      const old = mine.filter(({ ticket }) => Date.parse(ticket.updated_at) < FIVE_YEARS_AGO.getTime());
      expect(recent.length, "some of Ada's tickets are inside the rule").to.be.greaterThan(0);
      expect(old.length, "some are outside it").to.be.greaterThan(0);
      const oldRequested = old.filter(({ role }) => role === "requester").map(({ ticket }) => ticket);
      // Another customer wrote on some: those are not deleted for Ada, only her words on them redacted.
      const oldThreads = oldRequested.filter((t) => !othersWroteOn(z, t, ADA_ID));
      const oldShared = oldRequested.filter((t) => othersWroteOn(z, t, ADA_ID));
      expect(oldShared.length, "some old threads of Ada's carry another customer's words").to.be.greaterThan(0);
      const oldCcd = old.filter(({ role }) => role === "cc").map(({ ticket }) => ticket);
      expect(oldThreads.length, "some old threads are Ada's own").to.be.greaterThan(0);
      const live = (c: { attachments: { file_name: string }[] }) => c.attachments.filter((a) => a.file_name !== "redacted.txt").length;
      const threadRecords = oldThreads.reduce((n, t) => n + 1 + t.comments.reduce((m, c) => m + 1 + live(c), 0), 0);
      const oldOwn = [...oldCcd, ...oldShared].flatMap((ticket) => ticket.comments.filter((c) => c.author_id === ADA_ID));
      const othersWords = JSON.stringify(oldShared.map((t) => t.comments.filter((c) => c.author_id !== ADA_ID)));
      const oldOwnAttachments = oldOwn.reduce((n, c) => n + live(c), 0);
      const recentSnapshot = JSON.stringify(recent.map(({ ticket }) => ticket));

      const outcome = await connector.erase(ADA, { ...SUPPORT, keepRecordedSince: { SUPPORT: FIVE_YEARS_AGO } }, testContext());

      expect(outcome.erased).to.equal(threadRecords + oldOwn.length + oldOwnAttachments + oldCcd.length);
      for (const t of oldThreads) expect(z.store.ticket(t.id) ?? z.store.deletedTicket(t.id), "an old thread of Ada's is still there").to.equal(undefined);
      for (const t of oldCcd) expect(t.collaborator_ids, "Ada is still CC'd on an old thread").not.to.include(ADA_ID);
      for (const t of oldShared) expect(z.store.ticket(t.id), "a thread another customer wrote on is gone").to.not.equal(undefined);
      expect(JSON.stringify(oldShared.map((t) => z.store.ticket(t.id)!.comments.filter((c) => c.author_id !== ADA_ID))), "the others' words on them").to.equal(othersWords);
      expect(Object.fromEntries((outcome.residual ?? []).map((r) => [r.type, r.count]))).to.deep.equal({
        ticket: oldShared.length,
        comment: oldShared.reduce((n, t) => n + t.comments.filter((c) => isStaff(z, c.author_id)).length, 0),
      });
      const kept = new Map(outcome.kept!.map((k) => [k.type, k]));
      expect(kept.get("ticket")!.count).to.equal(recent.length);
      const newest = new Date(Math.max(...recent.map(({ ticket }) => Date.parse(ticket.updated_at))));
      expect(kept.get("ticket")!.newestRecordedAt.toISOString()).to.equal(newest.toISOString());
      expect(kept.get("user")).to.deep.include({ category: "SUPPORT", count: 1 });
      const keptComments = recent.flatMap(({ ticket, role }) => ticket.comments.filter((c) => c.author_id === ADA_ID || (role === "requester" && isStaff(z, c.author_id))));
      expect(kept.get("comment")!.count).to.equal(keptComments.length);
      expect(JSON.stringify(recent.map(({ ticket }) => ticket)), "kept threads are untouched").to.equal(recentSnapshot);
      for (const c of oldOwn) {
        expect([...c.plain_body].every((ch) => ch === REDACTED || /\s/.test(ch)), "an old comment of Ada still holds text").to.equal(true);
        expect(c.attachments.every((a) => a.file_name === "redacted.txt")).to.equal(true);
      }
      expect(z.store.user(ADA_ID)?.active, "the user stays while tickets are kept").to.equal(true);
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 0, userPermanentDeletes: 0 });

      // The purge, once the period has passed, erases the rest and the user.
      const purge = await connector.erase(ADA, SUPPORT, testContext());
      expect(purge.kept ?? []).to.deep.equal([]);
      expect(await collectAll(connector, ADA)).to.deep.equal([]);
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 1, userPermanentDeletes: 1 });
    });

    it("finishes after a crash between the soft and the permanent delete, each side effect once", async () => {
      const toRedact = adasLiveComments(z).length;
      const threads = ticketsOf(z, ADA_ID).filter(({ role }) => role === "requester").length - sharedThreads(z, ADA_ID).length;
      const residue = sharedResidue(z, ADA_ID);
      // Closed tickets she is CC'd on: Zendesk takes no update of them; their records go with her user.
      const closed = closedCcThreads(z, ADA_ID).length;
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1 });
      const error = await connector.erase(ADA, SUPPORT, testContext()).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      expect(z.store.user(ADA_ID)?.active).to.equal(false);
      expect(z.store.effects).to.deep.include({ commentRedactions: toRedact, ticketPermanentDeletes: threads, userSoftDeletes: 1, userPermanentDeletes: 0 });
      // What Zendesk still holds: her profile (in deleted_users), and of the threads only what stays for the other customers.
      const left = await collectAll(connector, ADA);
      expect(left[0].type, "a soft-deleted user shows what Zendesk still holds").to.equal("user");
      expect(outcomeCounts({ erased: 0, residual: ["ticket", "comment"].map((type) => ({ type, count: byType(left, type).length })) }).residual).to.deep.equal({ ...residue, ticket: (residue.ticket ?? 0) + closed });
      expect(left).to.have.length(1 + residue.ticket + closed + residue.comment);
      expect(left[0].data).to.include({ deleted: true });

      const outcome = await connector.erase(ADA, SUPPORT, testContext({ attempt: 2 }));
      expect(outcomeCounts(outcome)).to.deep.equal({ erased: 1 + closed, residual: residue });
      expect(z.store.user(ADA_ID)).to.equal(undefined);
      expect(z.store.effects).to.deep.include({ commentRedactions: toRedact, userSoftDeletes: 1, userPermanentDeletes: 1 });
      expect(await connector.erase(ADA, SUPPORT, testContext())).to.deep.equal({ erased: 0 });
    });

    /** Runs an erase that fails on the first permanent ticket delete, and returns the notes of the units it left unfinished. */
    const eraseUntilFirstPermanentDelete = async (): Promise<string[]> => {
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_tickets/", times: 1 });
      const notes: string[] = [];
      expect(await connector.erase(ADA, SUPPORT, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
      expect(z.store.deletedTickets()).to.have.length(1);
      return notes;
    };

    it("deletes for good, once, a thread an earlier attempt left in deleted_tickets, from its unit's note", async () => {
      const notes = await eraseUntilFirstPermanentDelete();
      const [, id] = /^ticket:(\d+):\d+$/.exec(notes[0]) ?? [];
      expect(Number(id)).to.equal(z.store.deletedTickets()[0].id);
      const threads = ticketsOf(z, ADA_ID).filter(({ role }) => role === "requester").length - sharedThreads(z, ADA_ID).length + 1;
      await connector.erase(ADA, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes }));
      expect(z.store.deletedTickets()).to.deep.equal([]);
      expect(z.store.effects).to.deep.include({ ticketSoftDeletes: threads, ticketPermanentDeletes: threads, ticketRestores: 0 });
      expect(z.store.state.tickets.some((x) => x.id === Number(id))).to.equal(false);
    });

    it("brings a half-deleted thread back, when the next attempt may no longer erase SUPPORT (a legal hold)", async () => {
      const notes = await eraseUntilFirstPermanentDelete();
      const id = z.store.deletedTickets()[0].id;
      const outcome = await connector.erase(ADA, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes, eraseUnit: async () => false }));
      expect(outcome).to.deep.equal({ erased: 0 });
      expect(z.store.deletedTickets()).to.deep.equal([]);
      expect(z.store.ticket(id), "the thread is live again").to.not.equal(undefined);
      expect(z.store.effects).to.deep.include({ ticketPermanentDeletes: 0, ticketRestores: 1 });
    });

    // Before: the retry of an instruction without SUPPORT returned at once, leaving the thread in deleted_tickets (Zendesk scrubs it after 30 days).
    it("brings a half-deleted thread back when a legal hold on SUPPORT was placed before the next attempt (its instruction no longer names SUPPORT)", async () => {
      const notes = await eraseUntilFirstPermanentDelete();
      const id = z.store.deletedTickets()[0].id;
      const outcome = await connector.erase(ADA, { categories: [] }, testContext({ attempt: 2, unfinishedUnits: async () => notes, eraseUnit: async () => false }));
      expect(outcome).to.deep.equal({ erased: 0 });
      expect(z.store.deletedTickets()).to.deep.equal([]);
      expect(z.store.ticket(id), "the thread is live again").to.not.equal(undefined);
      expect(z.store.effects).to.deep.include({ ticketPermanentDeletes: 0, ticketRestores: 1 });
    });

    it("finds a user by an email that is not their primary one, through their identities, and erases them by it", async () => {
      const grace = z.store.state.users.find((u) => u.active && u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      // Her address is now a secondary identity; her primary one is another.
      grace.secondary_emails = [grace.email.toUpperCase()];
      grace.email = "g.hopper@navy.example";
      const ids = (records: SubjectRecord[]) => records.map((r) => `${r.type}:${r.id}`).sort();
      const byId = ids(await collectAll(connector, { email: GRACE_PERSON.email, ticketingUserId: String(grace.id) }));
      expect(byId).to.include(`user:${grace.id}`);
      expect(ids(await collectAll(connector, { email: GRACE_PERSON.email }))).to.deep.equal(byId);
      await connector.erase({ email: GRACE_PERSON.email }, SUPPORT, testContext());
      // Asked of the stand-in: her user is no longer active.
      expect(z.store.user(grace.id)?.active ?? false).to.equal(false);
    });

    it("reads the user and lists their identities once per collect, by id and address or by address alone, and exports every one Zendesk holds", async () => {
      const ada = z.store.user(ADA_ID)!;
      ada.secondary_emails = ["ada.l@analytical.example"];
      ada.unverified_emails = ["typed.in@elsewhere.example"];
      for (const subject of [ADA, { email: ADA.email }]) {
        const from = z.calls.entries.length;
        const records = await collectAll(connector, subject);
        const calls = z.calls.entries.slice(from);
        expect(calls.filter((e) => e.path === `/api/v2/users/${ADA_ID}/identities.json`), JSON.stringify(subject)).to.have.length(1);
        // The search found her: her id leads to the same user, so it is not looked up again.
        expect(calls.filter((e) => e.path === `/api/v2/users/${ADA_ID}.json` || e.path === "/api/v2/users/search.json").map((e) => e.path)).to.deep.equal(["/api/v2/users/search.json"]);
        expect(records).to.have.length(expectedRecordCount(z, ADA_ID));
        // Every identity the stand-in holds for her, as its own listing shows them.
        const held = [ada.email, ...ada.secondary_emails, ...ada.unverified_emails, ada.phone].filter(Boolean);
        const exported = byType(records, "user")[0].data.identities as { value: string }[];
        expect(exported.map((i) => i.value)).to.deep.equal(held);
      }
    });

    it("finds and erases a subject by address alone through the user search, which pages by offset only (as Zendesk's refuses page[size]), over several pages", async () => {
      // Users whose addresses contain Grace's (the search matches partial values) fill more than one page of two.
      const grace = z.store.state.users.find((u) => u.active && u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      const template = { ...grace, secondary_emails: undefined, external_id: null };
      z.store.state.users.push(...[1, 2, 3].map((i): ZendeskUser => ({ ...template, id: 7_100_000 + i, email: `x${i}${grace.email}`, name: `Longer ${i}` })));
      const small = connectorFor(z, { pageSize: 2 });
      try {
        const from = z.calls.entries.length;
        const records = await collectAll(small, GRACE);
        const searches = z.calls.entries.slice(from).filter((e) => e.path === "/api/v2/users/search.json");
        expect(searches.map((e) => e.status)).to.deep.equal([200, 200]);
        expect(records).to.have.length(expectedRecordCount(z, grace.id));
        await small.erase(GRACE, SUPPORT, testContext());
      } finally {
        await small.close();
      }
      // Asked of the stand-in: Grace gone, the users whose addresses merely contain hers still there.
      expect(z.store.user(grace.id)).to.equal(undefined);
      for (const i of [1, 2, 3]) expect(z.store.user(7_100_000 + i)?.active).to.equal(true);
    });

    it("finishes a soft-deleted user by the id in its unit's note, when the subject's address is a secondary email", async () => {
      const grace = z.store.state.users.find((u) => u.active && u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      grace.secondary_emails = [grace.email];
      grace.email = "g.hopper@navy.example";
      const subject = { email: GRACE_PERSON.email };
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1 });
      const notes: string[] = [];
      expect(await connector.erase(subject, SUPPORT, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
      const residue = sharedResidue(z, grace.id);
      // The closed tickets she stays CC'd on are counted last (after the side messages'): their records go with her user.
      const closed = closedCcThreads(z, grace.id).length;
      expect(closed, "the seed CCs Grace on a closed ticket").to.be.greaterThan(0);
      expect(notes).to.deep.equal([userNote({ user: grace.id, withUser: closed, shared: [residue.ticket ?? 0, residue.comment ?? 0, residue.attachment ?? 0, 0], staff: [0, 0, 0] })]);
      expect(z.store.user(grace.id)?.active, "soft-deleted").to.equal(false);
      // Neither the search nor deleted_users' primary email leads to her now: the note does.
      const outcome = await connector.erase(subject, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes }));
      expect(outcomeCounts(outcome)).to.deep.equal({ erased: 1 + closed, residual: residue });
      expect(z.store.user(grace.id), "deleted for good, asked of the stand-in").to.equal(undefined);
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 1, userPermanentDeletes: 1 });
    });

    it("counts the user once, when the answer to its permanent delete was lost and the next attempt finishes its unit", async () => {
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1, afterEffect: true });
      const notes: string[] = [];
      const first = await connector.erase(ADA, SUPPORT, notingContext(notes)).catch((e: unknown) => e);
      expect(first).to.be.instanceOf(ConnectorError);
      expect(notes).to.have.length(1).and.satisfy((n: string[]) => userOfNote(n[0])?.user === ADA_ID);
      expect(z.store.user(ADA_ID), "deleted for good, asked of the stand-in").to.equal(undefined);
      // The failed unit counted nothing: the next attempt, finishing it, counts the user, and still names
      // what stays on the threads another customer wrote on (it no longer finds the user to look).
      const residue = sharedResidue(z, ADA_ID);
      expect(residue.ticket, "another customer wrote on a thread of Ada's").to.be.greaterThan(0);
      expect(outcomeCounts(await connector.erase(ADA, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes })))).to.deep.equal({ erased: 1 + closedCcThreads(z, ADA_ID).length, residual: residue });
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 1, userPermanentDeletes: 1 });
    });

    it("counts a suspended ticket once when its delete's answer was lost, and not one an agent recovered while the erasure ran", async () => {
      // Someone with no helpdesk user: only their suspended emails hold them.
      const walkIn = { email: "walk.in@example.net" };
      const lost = addSuspendedTicket(z, walkIn.email, "lost", new Date(0));
      const recovered = addSuspendedTicket(z, walkIn.email.toUpperCase(), "recovered", new Date(0));
      const someoneElse = addSuspendedTicket(z, `${walkIn.email}.evil.org`, "other", new Date(0));
      z.faults.add({ kind: "500", method: "DELETE", path: `/suspended_tickets/${lost.id}`, times: 1, afterEffect: true });
      const notes: string[] = [];
      const first = await connector.erase(walkIn, SUPPORT, notingContext(notes)).catch((e: unknown) => e);
      expect(first).to.be.instanceOf(ConnectorError);
      expect(notes).to.deep.equal([suspendedNote({ id: lost.id, arrived: Date.parse(lost.created_at) })]);
      // An agent recovers the other one (Zendesk makes a ticket of it) between the listing and the delete.
      const deleting = z.faults.pause({ method: "DELETE", path: `/suspended_tickets/${recovered.id}` });
      const second = connector.erase(walkIn, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes }));
      await deleting.reached;
      z.store.state.suspended_tickets = z.store.suspendedTickets().filter((x) => x.id !== recovered.id);
      deleting.release();
      // The lost answer's delete is this erasure's (once); the recovered one is not.
      expect(await second).to.deep.equal({ erased: 1 });
      expect(z.store.effects.suspendedTicketDeletes).to.equal(1);
      expect(z.store.suspendedTickets().map((x) => x.id)).to.deep.equal([someoneElse.id]);
    });

    it("finds a soft-deleted user by email among deleted_users and finishes, when only the email is known", async () => {
      z.faults.add({ kind: "hang", method: "DELETE", path: "/deleted_users/", times: 1 });
      const quick = connectorFor(z, { timeoutMs: 300 });
      const error = await quick.erase({ email: ADA.email }, SUPPORT, testContext()).catch((e: unknown) => e);
      await quick.close();
      expect((error as ConnectorError).retryable, String(error)).to.equal(true);
      expect(outcomeCounts(await connector.erase({ email: ADA.email }, SUPPORT, testContext()))).to.deep.equal({ erased: 1 + closedCcThreads(z, ADA_ID).length, residual: sharedResidue(z, ADA_ID) });
      expect(z.store.effects).to.deep.include({ userSoftDeletes: 1, userPermanentDeletes: 1 });
    });

    describe("a user an agent deleted by hand (soft-deleted, tickets left in place)", () => {
      const grace = () => z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;

      for (const [how, subject] of [
        ["by email (found among deleted_users)", (_id: number) => ({ email: GRACE_PERSON.email })],
        ["by ticketing user id", (id: number) => ({ email: GRACE_PERSON.email, ticketingUserId: String(id) })],
      ] as const) {
        it(`collects their profile and every ticket still tied to them, then erases all of it, ${how}`, async () => {
          const user = grace();
          const expected = expectedRecordCount(z, user.id);
          const threads = ticketsOf(z, user.id);
          const shared = sharedThreads(z, user.id);
          const residue = sharedResidue(z, user.id);
          expect(shared.length, "another customer wrote on a thread of Grace's").to.be.greaterThan(0);
          expect(threads.length, "the seed gives Grace threads").to.be.greaterThan(0);
          z.store.softDeleteUser(user, new Date());
          const collected = await collectAll(connector, subject(user.id));
          expect(collected).to.have.length(expected);
          expect(byType(collected, "user")[0].data).to.include({ deleted: true });
          expect(byType(collected, "ticket").map((r) => Number(r.id)).sort()).to.deep.equal(threads.map(({ ticket }) => ticket.id).sort());

          const outcome = await connector.erase(subject(user.id), SUPPORT, testContext());
          const residual = Object.values(residue).reduce((n, c) => n + c, 0);
          expect(outcomeCounts(outcome)).to.deep.equal({ erased: expected - residual, residual: residue });
          // Asked of the stand-in: no ticket leads to her but those another customer wrote on, her words are redacted, and she is deleted for good.
          // ... and the closed tickets she stays CC'd on (Zendesk takes no update of a closed ticket).
          expect(ticketsTiedTo(z, user.id).map((t) => t.id).sort((a, b) => a - b)).to.deep.equal([...shared, ...closedCcThreads(z, user.id)].map((t) => t.id).sort((a, b) => a - b));
          for (const { ticket } of threads.filter((x) => x.role === "cc" || shared.includes(x.ticket))) {
            for (const c of z.store.ticket(ticket.id)!.comments.filter((x) => x.author_id === user.id)) expect(c.plain_body).to.match(/^[\s▇]*$/u);
          }
          expect(z.store.user(user.id)).to.equal(undefined);
          expect(z.store.effects).to.deep.include({ userSoftDeletes: 1, userPermanentDeletes: 1 });
          expect(await collectAll(connector, subject(user.id))).to.deep.equal([]);
          expect(await connector.erase(subject(user.id), SUPPORT, testContext())).to.deep.equal({ erased: 0 });
        });
      }

      it("neither collects nor erases a deleted user whose primary address is the subject's but nobody verified it, and says so", async () => {
        // Someone else's user: an agent created it with Grace's address typed in, then deleted it by hand; Grace has no user of her own now.
        const user = grace();
        user.primary_email_verified = false;
        user.verified = false;
        z.store.softDeleteUser(user, new Date());
        const before = JSON.stringify({ user, tickets: ticketsTiedTo(z, user.id) });
        const notSearched: NotSearchedRecords[] = [];
        expect(await collectAll(connector, GRACE, testContext({ notSearched: (set) => void notSearched.push(set) }))).to.deep.equal([]);
        expect(notSearched.filter((n) => n.type === "user").map((n) => n.reason)).to.satisfy((reasons: string[]) => reasons.some((r) => /unverified/.test(r)));
        expect(await connector.erase(GRACE, SUPPORT, testContext())).to.deep.equal({ erased: 0 });
        // Asked of the stand-in: the user and every ticket tied to them as they were.
        expect(JSON.stringify({ user: z.store.user(user.id), tickets: ticketsTiedTo(z, user.id) })).to.equal(before);
      });

      it("says what it cannot search for by email alone (a deleted user's secondary address), and reaches that user by id", async () => {
        const user = grace();
        user.secondary_emails = [user.email];
        user.email = "g.hopper@navy.example";
        z.store.softDeleteUser(user, new Date());
        // Besides what the connector never searches, whoever the subject is (side conversations, ...).
        const secondary = (sets: NotSearchedRecords[]) => sets.filter((set) => set.reason.includes("secondary"));
        const byEmail: NotSearchedRecords[] = [];
        expect(await collectAll(connector, { email: GRACE_PERSON.email }, testContext({ notSearched: (set) => void byEmail.push(set) }))).to.deep.equal([]);
        expect(secondary(byEmail)).to.have.length(1);
        expect(secondary(byEmail)[0]).to.deep.include({ category: "SUPPORT", type: "user" });
        const byId: NotSearchedRecords[] = [];
        const found = await collectAll(connector, { email: GRACE_PERSON.email, ticketingUserId: String(user.id) }, testContext({ notSearched: (set) => void byId.push(set) }));
        expect(found).to.have.length(expectedRecordCount(z, user.id));
        expect(secondary(byId), "nothing is left unsearched with the id").to.deep.equal([]);
        expect(byId.map((set) => set.type)).to.deep.equal(byEmail.filter((set) => !secondary([set]).length).map((set) => set.type));
      });

      it("keeps threads under retention and the soft-deleted user with them, and reports both as kept", async () => {
        const user = grace();
        const threads = ticketsOf(z, user.id);
        z.store.softDeleteUser(user, new Date());
        const outcome = await connector.erase({ email: GRACE_PERSON.email }, { categories: ["SUPPORT"], keepRecordedSince: { SUPPORT: new Date(0) } }, testContext());
        expect(outcome.erased).to.equal(0);
        const kept = Object.fromEntries((outcome.kept ?? []).map((k) => [k.type, k.count]));
        expect(kept).to.include({ ticket: threads.length, user: 1 });
        expect(ticketsTiedTo(z, user.id).length).to.equal(threads.length);
        expect(z.store.user(user.id)?.active, "still soft-deleted, with the kept threads").to.equal(false);
        expect(z.store.effects).to.deep.include({ userPermanentDeletes: 0 });
      });
    });

    it("redacts each comment once, when a redaction's answer is lost after it was applied", async () => {
      const toRedact = adasLiveComments(z).length;
      z.faults.add({ kind: "500", method: "PUT", path: "/comment_redactions/", times: 1, afterEffect: true });
      await withRetries(() => connector.erase(ADA, SUPPORT, testContext()));
      expect(z.store.effects).to.deep.include({ commentRedactions: toRedact, userSoftDeletes: 1, userPermanentDeletes: 1 });
    });

    it("leaves the other subject untouched, when Ada's erasure redacts her comments", async () => {
      const before = await collectAll(connector, GRACE);
      await connector.erase(ADA, SUPPORT, testContext());
      expect(await collectAll(connector, GRACE)).to.deep.equal(before);
    });

    it("does not retry and names the credentials, when Zendesk answers 401", async () => {
      const wrong = connectorFor(z, { apiToken: "wrong" });
      const error = await collectAll(wrong, ADA).catch((e: unknown) => e);
      await wrong.close();
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).userMessage).to.match(/credentials/);
      expect(z.calls.count("GET", /\/api\/v2\//), "one call, not repeated").to.equal(1);
    });

    it("stops with a retryable error between pages, when ctx.signal is aborted", async () => {
      const ctx = testContext();
      const iterator = connector.collect(ADA, ctx)[Symbol.asyncIterator]();
      await iterator.next();
      ctx.abort("lease lost");
      const error = await (async () => {
        for (;;) if ((await iterator.next()).done) return undefined;
      })().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      expect((error as ConnectorError).userMessage).to.match(/stopped/);
    });

    it("continues from the state file, when the stand-in is restarted after a soft delete", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zendesk-state-"));
      const stateFile = path.join(dir, "zendesk.json");
      const first = await startStandIn({ stateFile });
      first.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/" });
      const c1 = connectorFor(first);
      await c1.erase(ADA, SUPPORT, testContext()).catch(() => undefined);
      await c1.close();
      await first.close();
      const second = await startStandIn({ stateFile });
      const c2 = connectorFor(second);
      try {
        expect(second.store.user(ADA_ID)?.active).to.equal(false);
        expect(outcomeCounts(await c2.erase(ADA, SUPPORT, testContext()))).to.deep.equal({ erased: 1 + closedCcThreads(second, ADA_ID).length, residual: sharedResidue(second, ADA_ID) });
        expect(second.store.effects).to.deep.include({ commentRedactions: 0, userSoftDeletes: 0, userPermanentDeletes: 1 });
        expect(JSON.parse(fs.readFileSync(stateFile, "utf8")).users.some((u: { id: number }) => u.id === ADA_ID)).to.equal(false);
      } finally {
        await c2.close();
        await second.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("listSubjects (breach roster)", () => {
    let z: ZendeskStandIn;
    let connector: ZendeskConnector;
    beforeEach(async () => {
      z = await startStandIn();
      connector = connectorFor(z);
    });
    afterEach(async () => {
      await connector.close();
      await z.close();
    });

    const LIST = "/api/v2/users.json";
    /** A user added to the stand-in's data, like a sample person's (ids above every seeded one). */
    const addUser = (id: number, fields: Partial<ZendeskUser> = {}): ZendeskUser => {
      const user: ZendeskUser = { id, name: `User ${id}`, email: `user${id}@example.org`, phone: null, role: "end-user", active: true, verified: true, external_id: null, time_zone: "London", locale: "en-GB", created_at: "2024-01-01T00:00:00.000Z", updated_at: "2024-01-01T00:00:00.000Z", ...fields };
      z.store.state.users.push(user);
      return user;
    };
    const listed = (entries: RosterEntry[]) => entries.map((e) => e.identities.ticketingUserId).sort();
    const activeIds = () => z.store.state.users.filter((u) => u.active).map((u) => String(u.id)).sort();
    /** Every user Zendesk still holds, live or soft-deleted (not those deleted for good). */
    const allIds = () => z.store.state.users.map((u) => String(u.id)).sort();

    it("lists every active user once, by id and primary email in matching form, following links.next with a heartbeat per page", async () => {
      const small = connectorFor(z, { pageSize: 2 });
      const ctx = testContext();
      const entries = await listAll(small, ctx);
      await small.close();
      const users = z.store.state.users;
      expect(listed(entries)).to.deep.equal(activeIds());
      for (const e of entries) {
        const user = users.find((u) => String(u.id) === e.identities.ticketingUserId)!;
        expect(e).to.deep.equal({ identities: { ticketingUserId: String(user.id), email: normalizeEmail(user.email) } });
      }
      expect(entries.find((e) => e.identities.ticketingUserId === ADA.ticketingUserId)?.identities.email).to.equal(ADA.email);
      const pages = z.calls.count("GET", /^\/api\/v2\/users\.json$/);
      expect(pages, "one call per page of two: the last says has_more false").to.equal(Math.ceil(users.length / 2));
      expect(ctx.heartbeats).to.be.at.least(pages);
    });

    it("lists the sender of suspended tickets no user holds the address of, by address, with how many they sent, and no one twice", async () => {
      const stranger = "Walk.In@Example.NET";
      addSuspendedTicket(z, stranger, "one", new Date());
      addSuspendedTicket(z, stranger.toLowerCase(), "two", new Date());
      addSuspendedTicket(z, ADA.email.toUpperCase(), "ada", new Date());
      const entries = await listAll(connector);
      expect(entries.filter((e) => e.identities.email === normalizeEmail(stranger))).to.deep.equal([{ identities: { email: "walk.in@example.net" }, records: 2 }]);
      expect(entries.filter((e) => e.identities.email === ADA.email), "Ada is listed once, by her user").to.deep.equal([{ identities: { ticketingUserId: ADA.ticketingUserId, email: ADA.email } }]);
      expect(entries.length).to.equal(activeIds().length + 1);
    });

    it("reads pages of 100 and lists all of them, when the account holds more than 100 users", async () => {
      for (let i = 0; i < 150; i += 1) addUser(800_000_000 + i);
      const entries = await listAll(connector);
      expect(listed(entries)).to.deep.equal(activeIds());
      expect(entries).to.have.length(z.store.state.users.length);
      expect(z.calls.count("GET", /^\/api\/v2\/users\.json$/)).to.equal(Math.ceil(z.store.state.users.length / 100));
    });

    it("lists agents and admins too, as collect finds them like anyone", async () => {
      const admin = addUser(800_000_001, { role: "admin", email: "Head.Of.Support@Support.example.com" });
      const agent = z.store.user(SAMPLE_AGENT_ID)!;
      const entries = await listAll(connector);
      for (const staff of [agent, admin]) {
        const subject = { email: normalizeEmail(staff.email), ticketingUserId: String(staff.id) };
        expect(entries.filter((e) => e.identities.ticketingUserId === subject.ticketingUserId || e.identities.email === subject.email)).to.deep.equal([{ identities: subject }]);
        expect((await collectAll(connector, subject)).map((r) => r.type), "collect finds the staff member's profile").to.include("user");
      }
    });

    it("lists a soft-deleted user, as collect shows them, when an erasure stopped before the permanent delete, and no longer once it is done", async () => {
      z.faults.add({ kind: "500", method: "DELETE", path: "/deleted_users/", times: 1 });
      expect(await connector.erase(ADA, SUPPORT, testContext()).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
      expect(z.store.user(ADA_ID)?.active, "soft-deleted, waiting in deleted_users").to.equal(false);
      const residue = sharedResidue(z, ADA_ID);
      expect((await collectAll(connector, ADA)).map((r) => r.type)).to.have.length(1 + residue.ticket + closedCcThreads(z, ADA_ID).length + residue.comment).and.satisfy((types: string[]) => types[0] === "user");
      const entries = await listAll(connector);
      expect(entries.filter((e) => e.identities.ticketingUserId === ADA.ticketingUserId || e.identities.email === ADA.email)).to.deep.equal([{ identities: { ticketingUserId: ADA.ticketingUserId, email: ADA.email } }]);
      expect(listed(entries)).to.deep.equal(allIds());
      await connector.erase(ADA, SUPPORT, testContext());
      // Deleted for good: deleted_users still lists her, with nothing personal left; the roster does not.
      expect(z.store.deletedUsers().map((u) => u.id)).to.include(ADA_ID);
      const after = await listAll(connector);
      expect(after.filter((e) => e.identities.ticketingUserId === ADA.ticketingUserId || e.identities.email === ADA.email)).to.deep.equal([]);
      expect(listed(after)).to.deep.equal(allIds());
    });

    it("lists a user an agent deleted by hand, with their tickets still there, and confirms by id a user deleted for good but not yet renamed", async () => {
      const grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      z.store.softDeleteUser(grace, new Date());
      const gone = addUser(800_000_003, { email: "gone@example.org" });
      z.store.softDeleteUser(gone, new Date());
      z.store.permanentlyDeleteUser(gone);
      // Zendesk renames a user deleted for good a while later: until then the list shows the old name.
      const renamedLater = addUser(800_000_004, { email: "later@example.org", name: "Not Yet Renamed" });
      z.store.softDeleteUser(renamedLater, new Date());
      z.store.permanentlyDeleteUser(renamedLater);
      const real = z.store.deletedUsers.bind(z.store);
      z.store.deletedUsers = () => real().map((u) => (u.id === renamedLater.id ? { ...u, name: "Not Yet Renamed" } : u)) as ReturnType<typeof real>;
      const entries = await listAll(connector);
      expect(entries.filter((e) => e.identities.ticketingUserId === String(grace.id))).to.deep.equal([{ identities: { ticketingUserId: String(grace.id), email: normalizeEmail(grace.email) } }]);
      expect(listed(entries)).to.deep.equal(allIds());
      expect(listed(entries)).to.not.include.members([String(gone.id), String(renamedLater.id)]);
      // Only the entry not yet renamed needed a call of its own.
      expect(z.calls.entries.filter((e) => /^\/api\/v2\/deleted_users\/\d+\.json$/.test(e.path)).map((e) => e.path)).to.deep.equal([`/api/v2/deleted_users/${renamedLater.id}.json`]);
      // What the roster promises for her, collect keeps: her profile and every ticket still tied to her.
      expect(await collectAll(connector, { email: GRACE_PERSON.email })).to.have.length(expectedRecordCount(z, grace.id));
    });

    it("gives a soft-deleted user's address to the live user who has it now, and to the first soft-deleted one otherwise, as collect does", async () => {
      const first = addUser(800_000_005, { email: "Shared@Example.org" });
      const second = addUser(800_000_006, { email: "shared@example.org" });
      z.store.softDeleteUser(first, new Date());
      z.store.softDeleteUser(second, new Date());
      const live = addUser(800_000_007, { email: "reused@example.org" });
      const earlier = addUser(800_000_008, { email: "Reused@example.org" });
      z.store.softDeleteUser(earlier, new Date());
      const entries = await listAll(connector);
      const entryOf = (u: ZendeskUser) => entries.filter((e) => e.identities.ticketingUserId === String(u.id));
      expect(entryOf(first)).to.deep.equal([{ identities: { ticketingUserId: String(first.id), email: "shared@example.org" } }]);
      expect(entryOf(second)).to.deep.equal([{ identities: { ticketingUserId: String(second.id) } }]);
      expect(entryOf(earlier)).to.deep.equal([{ identities: { ticketingUserId: String(earlier.id) } }]);
      expect(entries.filter((e) => e.identities.email === "reused@example.org")).to.deep.equal([{ identities: { ticketingUserId: String(live.id), email: "reused@example.org" } }]);
      // Collect agrees: each address leads to the user the roster gave it to.
      const userBy = async (email: string) => (await collectAll(connector, { email })).find((r) => r.type === "user")?.id;
      expect(await userBy("shared@example.org")).to.equal(String(first.id));
      expect(await userBy("reused@example.org")).to.equal(String(live.id));
    });

    it("lists a user once, by their primary address, when the subject's address is a secondary identity", async () => {
      const grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      grace.secondary_emails = [grace.email];
      grace.email = "G.Hopper@Navy.example";
      const subject = { email: normalizeEmail(GRACE_PERSON.email), ticketingUserId: String(grace.id) };
      const entries = await listAll(connector);
      const theirs = entries.filter((e) => e.identities.ticketingUserId === subject.ticketingUserId || e.identities.email === subject.email);
      expect(theirs).to.deep.equal([{ identities: { ticketingUserId: subject.ticketingUserId, email: "g.hopper@navy.example" } }]);
    });

    it("lists a user by id alone, when no identity of theirs is verified (their primary address may be someone else's), as collect does not find them by it", async () => {
      const grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      // An agent put Nadia's address on Grace's profile as its primary email; nobody verified it.
      Object.assign(grace, { email: "Nadia.New@Example.org", primary_email_verified: false, verified: false });
      const entries = await listAll(connector);
      expect(entries.filter((e) => e.identities.ticketingUserId === String(grace.id))).to.deep.equal([{ identities: { ticketingUserId: String(grace.id) } }]);
      expect(entries.filter((e) => e.identities.email === "nadia.new@example.org"), "an entry joining Nadia's address to Grace's user").to.deep.equal([]);
      expect(await collectAll(connector, { email: "nadia.new@example.org" })).to.deep.equal([]);
    });

    it("lists a soft-deleted user by id alone too, when no identity of theirs is verified, as collect does not find them by it", async () => {
      const grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
      Object.assign(grace, { email: "Nadia.New@Example.org", primary_email_verified: false, verified: false });
      z.store.softDeleteUser(grace, new Date());
      const entries = await listAll(connector);
      expect(entries.filter((e) => e.identities.ticketingUserId === String(grace.id))).to.deep.equal([{ identities: { ticketingUserId: String(grace.id) } }]);
      expect(entries.filter((e) => e.identities.email === "nadia.new@example.org"), "an entry joining Nadia's address to Grace's user").to.deep.equal([]);
      expect(await collectAll(connector, { email: "nadia.new@example.org" })).to.deep.equal([]);
    });

    it("gives an address two users hold in different spellings to one of them, lists the other by id, and collect refuses to follow one", async () => {
      // Björn is stored with the ASCII spelling of his domain; a second user now holds the Unicode one.
      const bjorn = z.store.state.users.find((u) => u.email === BJORN_PERSON.email)!;
      const twin = addUser(800_000_002, { email: BJORN.email });
      expect(BJORN.email).to.not.equal(bjorn.email);
      // Both are the subject's: collect stops rather than export one of them (test/identity/twoTicketingUsers).
      const refused = await collectAll(connector, BJORN).catch((e: unknown) => e);
      expect(refused).to.be.instanceOf(ConnectorError).and.deep.include({ retryable: false });
      const entries = await listAll(connector);
      const owner = entries.filter((e) => e.identities.email === BJORN.email);
      expect(owner.length).to.equal(1);
      expect([String(bjorn.id), String(twin.id)]).to.include(owner[0].identities.ticketingUserId);
      const other = owner[0].identities.ticketingUserId === String(twin.id) ? bjorn : twin;
      expect(entries.filter((e) => e.identities.ticketingUserId === String(other.id))).to.deep.equal([{ identities: { ticketingUserId: String(other.id) } }]);
    });

    it("fails with a retryable ConnectorError carrying Retry-After, when a listing page gets a long 429, and waits out a short one", async () => {
      const small = connectorFor(z, { pageSize: 5, maxInlineWaitMs: 1500 });
      try {
        const ctx = testContext();
        const iterator = small.listSubjects(ctx)[Symbol.asyncIterator]();
        expect((await iterator.next()).done).to.equal(false);
        z.faults.add({ kind: "429", method: "GET", path: LIST, times: 1, retryAfterSeconds: 30 });
        const error = await (async () => {
          for (;;) if ((await iterator.next()).done) return undefined;
        })().catch((e: unknown) => e);
        expect(error).to.be.instanceOf(ConnectorError);
        expect(error).to.deep.include({ retryable: true, retryAfterMs: 30_000 });

        z.calls.clear();
        z.faults.add({ kind: "429", method: "GET", path: LIST, times: 1, retryAfterSeconds: 1 });
        expect(listed(await listAll(small))).to.deep.equal(activeIds());
        const [limited, next] = z.calls.entries.filter((e) => e.path === LIST);
        expect(limited.status).to.equal(429);
        expect(next.at - limited.at, "the page was asked again no sooner than Retry-After").to.be.at.least(1000);
      } finally {
        await small.close();
      }
    });

    it("stops with a retryable error between pages, when ctx.signal is aborted", async () => {
      const small = connectorFor(z, { pageSize: 2 });
      const ctx = testContext();
      const iterator = small.listSubjects(ctx)[Symbol.asyncIterator]();
      await iterator.next();
      ctx.abort("lease lost");
      const error = await (async () => {
        for (;;) if ((await iterator.next()).done) return undefined;
      })().catch((e: unknown) => e);
      await small.close();
      expect(error).to.deep.include({ retryable: true });
      expect((error as ConnectorError).userMessage).to.match(/stopped/);
      expect(z.calls.count("GET", /^\/api\/v2\/users\.json$/)).to.equal(1);
    });

    it("serves users.json filtered by role, and keeps a repeated role[] filter in links.next", async () => {
      addUser(800_000_003, { role: "admin" });
      const auth = { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` };
      type Page = { users: { id: number; role: string }[]; meta: { has_more: boolean }; links: { next: string | null } };
      const get = async (url: string) => (await (await fetch(url, { headers: auth })).json()) as Page;
      const endUsers = await get(`${z.url}${LIST}?role=end-user&page[size]=100`);
      expect(endUsers.users.map((u) => u.id)).to.deep.equal(z.store.state.users.filter((u) => u.role === "end-user").map((u) => u.id).sort((a, b) => a - b));
      const first = await get(`${z.url}${LIST}?role[]=agent&role[]=admin&page[size]=1`);
      expect(first.meta.has_more).to.equal(true);
      const second = await get(first.links.next!);
      expect([...first.users, ...second.users].map((u) => u.role), "by id: the agent's is the lower").to.deep.equal(["agent", "admin"]);
      expect(second.meta.has_more).to.equal(false);
    });
  });

  describe("faults", () => {
    let z: ZendeskStandIn;
    beforeEach(async () => {
      z = await startStandIn();
    });
    afterEach(() => z.close());

    /** Every 429 the stand-in served, with the gap until the connector's next call (it calls one at a time). */
    const gapsAfter429 = () =>
      z.calls.entries.flatMap((e, i) => (e.status === 429 && z.calls.entries[i + 1] ? [z.calls.entries[i + 1].at - e.at] : []));

    it("collects and erases everything in the end, when 30% of calls answer 500, 429 or hang", async function () {
      this.timeout(120_000);
      const clean = connectorFor(z);
      const expected = (await collectAll(clean, ADA)).map((r) => `${r.type}:${r.id}`);
      const toRedact = adasLiveComments(z).length;
      z.calls.clear();
      Object.assign(z.faults, { rate: 0.3, retryAfterSeconds: 0.4 });
      const connector = connectorFor(z, { timeoutMs: 250 });
      const collectCtx = testContext();
      const collectLog: RetryLog = { attempts: 0, waits: [] };
      const eraseLog: RetryLog = { attempts: 0, waits: [] };
      try {
        const collected = await withRetries(() => collectAll(connector, ADA, collectCtx), collectLog);
        expect(collected.map((r) => `${r.type}:${r.id}`)).to.deep.equal(expected);
        await withRetries(() => connector.erase(ADA, SUPPORT, testContext()), eraseLog);
      } finally {
        await connector.close();
      }
      const served = { "500": 0, "429": 0, hang: 0 } as Record<string, number>;
      for (const e of z.calls.entries) if (e.fault) served[e.fault] += 1;
      z.faults.rate = 0;
      expect(await collectAll(clean, ADA)).to.deep.equal([]);
      await clean.close();
      expect(z.store.effects).to.deep.include({ commentRedactions: toRedact, userSoftDeletes: 1, userPermanentDeletes: 1 });
      for (const kind of ["500", "429", "hang"]) expect(served[kind], `${kind} faults served`).to.be.greaterThan(0);
      const retriesLogged = collectCtx.lines.filter((l) => l.msg === "zendesk read retried");
      expect(retriesLogged.length).to.be.greaterThan(0);
      for (const l of retriesLogged) expect(JSON.stringify(l.obj)).not.to.include(ADA.ticketingUserId);
      const gaps = gapsAfter429();
      expect(gaps.length).to.equal(served["429"]);
      expect(Math.min(...gaps), "a call came sooner than Retry-After").to.be.at.least(400);
      for (const w of [...collectLog.waits, ...eraseLog.waits]) if (w.retryAfterMs !== undefined) expect(w.waitedMs).to.be.at.least(w.retryAfterMs - 1);
      console.log(`      ${z.calls.total} calls, faults ${JSON.stringify(served)}, attempts collect ${collectLog.attempts} erase ${eraseLog.attempts}, shortest wait after 429 ${Math.min(...gaps)} ms`);
    });

    it("hands Retry-After over as retryAfterMs and waits at least that long, when a write gets 429", async () => {
      z.faults.add({ kind: "429", method: "DELETE", path: "/users/", times: 1, retryAfterSeconds: 1 });
      const connector = connectorFor(z);
      const log: RetryLog = { attempts: 0, waits: [] };
      await withRetries(() => connector.erase(ADA, SUPPORT, testContext()), log);
      await connector.close();
      expect(log.waits.map((w) => w.retryAfterMs)).to.deep.equal([1000]);
      expect(gapsAfter429()).to.have.length(1);
      expect(gapsAfter429()[0]).to.be.at.least(1000);
    });

    it("waits out a short Retry-After inside a read, and fails with retryAfterMs when it is too long", async () => {
      z.faults.add({ kind: "429", path: "/tickets/requested", times: 1, retryAfterSeconds: 1 });
      const connector = connectorFor(z, { maxInlineWaitMs: 1500 });
      const records = await collectAll(connector, ADA);
      expect(records).to.have.length(expectedRecordCount(z, ADA_ID));
      expect(gapsAfter429()[0]).to.be.at.least(1000);
      z.faults.add({ kind: "429", path: "/tickets/requested", times: 1, retryAfterSeconds: 30 });
      const error = await collectAll(connector, ADA).catch((e: unknown) => e);
      await connector.close();
      expect(error).to.be.instanceOf(ConnectorError);
      expect(error).to.deep.include({ retryable: true, retryAfterMs: 30_000 });
    });

    it("spaces its calls to the configured rate, when requestsPerMinute is 600", async function () {
      this.timeout(60_000);
      const connector = createZendeskConnector({ baseUrl: z.url, email: EMAIL, apiToken: TOKEN, requestsPerMinute: 600 });
      const started = Date.now();
      await collectAll(connector, { email: GRACE_PERSON.email });
      await collectAll(connector, ADA);
      const seconds = (Date.now() - started) / 1000;
      await connector.close();
      const times = z.calls.entries.map((e) => e.at);
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
      const rate = (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
      console.log(`      ${times.length} calls in ${seconds.toFixed(2)} s: ${rate.toFixed(2)} calls/s between first and last, busiest second ${busiest}, shortest gap ${Math.min(...gaps)} ms`);
      expect(times.length).to.be.at.least(20);
      expect(rate).to.be.at.most(10.2);
      // Timers fire a millisecond early or late: a window may catch one call more at its edges.
      expect(busiest).to.be.at.most(11);
      // Calls leave at least 100 ms apart, but the stand-in runs in this process and sees a call when the
      // event loop gets to it: on a loaded machine one can arrive late and the next on time, so a single
      // gap says little. Ten calls in a row still span 900 ms less one late arrival; a burst spans nothing.
      const tightest = Math.min(...times.slice(9).map((t, i) => t - times[i]));
      console.log(`      ten calls in a row span at least ${tightest} ms`);
      expect(tightest).to.be.at.least(600);
    });
  });

  describe("check and configuration", () => {
    it("fails clearly, when the host does not answer", async () => {
      const z = await startStandIn();
      const url = z.url;
      await z.close();
      const connector = createZendeskConnector({ baseUrl: url, email: EMAIL, apiToken: TOKEN, timeoutMs: 1000 });
      const result = await connector.check(testContext());
      await connector.close();
      expect(result.ok).to.equal(false);
      expect(result.message).to.match(/unreachable/);
    });

    it("fails naming the credentials, when the token is wrong", async () => {
      const z = await startStandIn();
      const connector = createZendeskConnector({ baseUrl: z.url, email: EMAIL, apiToken: "wrong" });
      const result = await connector.check(testContext());
      await connector.close();
      await z.close();
      expect(result).to.deep.include({ ok: false });
      expect(result.message).to.match(/credentials/);
      expect(result.message).not.to.include("wrong");
    });

    it("fails an agent's token, naming the users a collect would miss, since Zendesk refuses it the incremental user export", async () => {
      const z = await startStandIn();
      z.store.state.api_user_role = "agent";
      const waiting = connectorFor(z, { searchLagMs: 600_000 });
      const atOnce = connectorFor(z, { searchLagMs: 0 });
      try {
        // Asked of the stand-in as the connector does: the export refuses this token.
        const refused = await fetch(`${z.url}/api/v2/incremental/users/cursor.json?start_time=0`, { headers: { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` } });
        expect(refused.status).to.equal(403);
        // Before: { ok: true, "... as an agent" }, and every collect then named such users not searched.
        const result = await waiting.check(testContext());
        expect(result.ok).to.equal(false);
        expect(result.message).to.match(/agent/).and.to.match(/incremental user export/).and.to.match(/would go unfound/).and.to.match(/searchLagMs to 0/);
        // With searchLagMs 0 no export is read, and the gap is accepted: the agent's token passes.
        expect(await atOnce.check(testContext())).to.deep.include({ ok: true });
        // An admin's token passes, and its check spends none of the export's calls (10 a minute).
        z.store.state.api_user_role = "admin";
        const before = z.calls.entries.length;
        expect(await waiting.check(testContext())).to.deep.include({ ok: true });
        expect(z.calls.entries.slice(before).map((e) => e.path)).to.deep.equal(["/api/v2/users/me.json"]);
      } finally {
        await waiting.close();
        await atOnce.close();
        await z.close();
      }
    });

    it("registers through a connectors file today, as a module entry with the token from the environment", async () => {
      const z = await startStandIn();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zendesk-connectors-"));
      const file = path.join(dir, "connectors.json");
      const entry = { type: "module", module: require.resolve("../../src/connectors/zendesk"), options: { baseUrl: z.url, email: EMAIL, requestsPerMinute: 400 }, env: { apiToken: "ZENDESK_API_TOKEN" } };
      fs.writeFileSync(file, JSON.stringify({ connectors: [entry] }));
      try {
        const [connector] = await loadConnectorsFile(file, { ZENDESK_API_TOKEN: TOKEN });
        expect(connector.spec).to.deep.include({ name: "ticketing", needs: ["ticketingUserId", "email"], needsAny: true, categories: ["SUPPORT"] });
        expect(await connector.check(testContext())).to.deep.include({ ok: true });
        await (connector as ZendeskConnector).close();
      } finally {
        await z.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("lists every problem and never the token, when the options are wrong", () => {
      const error = (() => {
        try {
          createZendeskConnector({ name: "Tickets!", baseUrl: "http://acme.zendesk.com", email: "nobody", apiToken: "", pageSize: 500, colour: "red" } as never);
        } catch (e) {
          return e;
        }
      })();
      expect(error).to.be.instanceOf(ConnectorConfigError);
      const problems = (error as ConnectorConfigError).problems.join("\n");
      for (const word of ["colour", "name", "https", "email", "apiToken", "pageSize"]) expect(problems).to.include(word);
      expect((error as ConnectorConfigError).problems).to.have.length(6);
    });
  });
});
