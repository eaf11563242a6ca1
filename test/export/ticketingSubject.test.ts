import { expect } from "chai";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn, ZendeskUser } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { TEST_START, TestService } from "../support/harness";
import { ADA_PERSON, addSuspendedTicket, expectedRecordCount, ticketsOf } from "../connectors/support/zendeskStandIn";
import { ZipReader } from "../../src/export/zipReader";
import { archiveTexts, download, downloadedExport, exportLink, finishedRequest, zendeskServiceEach } from "./support";

const ADA_ID = Number(ADA_PERSON.ticketingUserId);
const DAY = 86_400_000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  notSearched { connector category recordType reason }
  tasks { connector step status outcome { records erased } }
  deletionPlan { connector category found toErase toKeep toLeaveResidual }
  deletionOutcome { connector erased kept residual plannedToErase plannedToKeep matchesPlan differences { kind records } }
  retentionExceptions { connector recordType recordCount status } } }`;

/**
 * Addresses that look like Ada's but are other people's: a longer domain, a longer local part, a +tag,
 * a Cyrillic "а" (U+0430), and a search-syntax injection. Zendesk's user search matches partial values,
 * so the first two come back when Ada's address is searched for.
 */
const LOOKALIKES = [
  `${ADA_PERSON.email}.evil.org`,
  `m${ADA_PERSON.email}`,
  ADA_PERSON.email.replace("@", "+dsr@"),
  `\u0430${ADA_PERSON.email.slice(1)}`,
];

/**
 * Emails Zendesk suspended (held back as spam, or from a sender it does not trust) keep the sender's
 * name, address and whole text, with no user behind them: neither the ticketing user id nor the user
 * search reaches them. They are the subject's data when the subject sent them, and nobody else's.
 */
describeEachDatabase("the subject's data in the ticketing system: all of it, and nothing of anyone else's", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  // Support kept 2 days: the older suspended emails go, the one of the last hour is kept.
  zendeskServiceEach(db, "2 days", (s) => ({ z, connector, t } = s));

  const suspended = (email: string, text: string, at: Date) => addSuspendedTicket(z, email, text, at);
  /** Ada's suspended emails (one typed in another case, one from another address of hers), and one from each lookalike address. */
  const seed = () => {
    const old = new Date(TEST_START.getTime() - 5 * DAY);
    const ada = [
      suspended(ADA_PERSON.email, "ADA-OLD-1", old),
      suspended(ADA_PERSON.email.toUpperCase(), "ADA-OLD-2", old),
      suspended(ADA_PERSON.email, "ADA-RECENT", new Date(TEST_START.getTime() - 3_600_000)),
      // Sent from an address of hers the platform does not know, which Zendesk tied to her user.
      suspended("ada.l@analytical.example", "ADA-OTHER-ADDRESS", old),
    ];
    // Zendesk ties held-back mail to the user holding its From address: here a verified one of Ada's.
    z.store.user(ADA_ID)!.secondary_emails = ["ada.l@analytical.example"];
    ada[3].author.id = ADA_ID;
    const others = LOOKALIKES.map((email, i) => suspended(email, `OTHER-${i}`, old));
    // A verified helpdesk user at each lookalike address, with a ticket of their own.
    const template = z.store.user(ADA_ID)!;
    const users = LOOKALIKES.map((email, i): ZendeskUser => ({ ...template, id: 7_000_000 + i, email, name: `Lookalike ${i}`, external_id: null }));
    z.store.state.users.push(...users);
    const adaTicket = z.store.ticketsRequestedBy(ADA_ID)[0];
    for (const u of users) {
      z.store.state.tickets.push({ ...adaTicket, id: u.id, subject: `LOOKALIKE-TICKET-${u.id}`, requester_id: u.id, submitter_id: u.id, collaborator_ids: [], comments: adaTicket.comments.slice(0, 1).map((c) => ({ ...c, id: u.id + 1, author_id: u.id, body: `LOOKALIKE-${u.id}`, plain_body: `LOOKALIKE-${u.id}`, html_body: `<p>LOOKALIKE-${u.id}</p>`, attachments: [] })) });
    }
    return { ada, others, users };
  };

  it("exports every suspended email Ada sent, in any case, and nothing of lookalike addresses, their users or their tickets", async function () {
    this.timeout(60_000);
    const { ada, others, users } = seed();
    const othersBefore = JSON.stringify(others);

    const access = await finishedRequest(t, "ACCESS", ADA_PERSON.email, SHOW);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    // Counted in the stand-in's own store: her user, threads and comments, and her 4 suspended emails.
    expect(access.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(expectedRecordCount(z, ADA_ID) + ada.length);
    const { data, manifest } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
    for (const s of ada) {
      expect(data, `Ada's suspended email ${s.id}`).to.include(s.content);
      expect(data).to.include(`${s.subject}`);
    }
    for (const s of others) expect(data, `the suspended email of ${s.author.email}`).not.to.include(s.content);
    for (const u of users) {
      expect(data, `lookalike user ${u.id}`).not.to.include(`LOOKALIKE-${u.id}`);
      expect(data).not.to.include(u.email);
    }
    expect(JSON.stringify(others)).to.equal(othersBefore);
    // What the connector cannot reach is said, not passed over.
    const unsearched = manifest.notSearched.filter((n) => n.connector === connector.spec.name).map((n) => n.type);
    expect(unsearched).to.include.members(["side_conversation", "comment", "deleted_ticket"]);
    expect(access.notSearched.map((n: any) => n.recordType)).to.include.members(["side_conversation", "comment", "deleted_ticket"]);
  });

  it("exports mail held back under Ada's address as not proven hers, and neither exports nor erases mail from an address on her profile nobody verified, though Zendesk tied it to her user", async function () {
    this.timeout(90_000);
    const old = new Date(TEST_START.getTime() - 5 * DAY);
    // Anyone can put Ada's address in an email's From; Zendesk held this one back as failing authentication.
    const forged = suspended(ADA_PERSON.email, "FORGED-IN-ADAS-NAME", old);
    forged.cause = "Email failed authentication";
    // An agent typed someone else's address onto Ada's profile; Zendesk ties that person's held-back mail to her user.
    z.store.user(ADA_ID)!.unverified_emails = ["mallory@elsewhere.example"];
    const theirs = suspended("mallory@elsewhere.example", "MALLORYS-OWN-WORDS", old);
    theirs.author.id = ADA_ID;
    const theirsBefore = JSON.stringify(theirs);

    const access = await finishedRequest(t, "ACCESS", ADA_PERSON.email, SHOW);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(expectedRecordCount(z, ADA_ID) + 1);
    const { file, manifest } = await downloadedExport(t, access.id);
    const zip = ZipReader.open(file);
    const records = JSON.parse(await zip.text("data/support.json").finally(() => zip.close())) as { type: string; id: string; data: Record<string, unknown> }[];
    const held = records.filter((r) => r.type === "suspended_ticket");
    expect(held.map((r) => r.id)).to.deep.equal([String(forged.id)]);
    expect(held[0].data).to.include({ content: forged.content, sender_email: ADA_PERSON.email, sender_verified: false, cause: forged.cause });
    expect(held[0].data.about_sender).to.match(/not proof of who sent it/);
    expect(JSON.stringify(records), "Mallory's held-back mail").not.to.include("MALLORYS-OWN-WORDS");
    // That it passed something over is said, as for every kind it does not read.
    expect(manifest.notSearched.filter((n) => n.connector === connector.spec.name).map((n) => n.type)).to.include("suspended_ticket");

    const deletion = await finishedRequest(t, "DELETION", ADA_PERSON.email, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Zendesk holds: the mail sent in Ada's name gone (issued in her name, hers to have erased), Mallory's as it was.
    const now = z.store.suspendedTickets();
    expect(now.map((x) => x.id)).not.to.include(forged.id);
    expect(JSON.stringify(now.find((x) => x.id === theirs.id))).to.equal(theirsBefore);
    expect(deletion.deletionOutcome.find((l: any) => l.connector === connector.spec.name).matchesPlan).to.equal(true);
  });

  it("exports Ada's whole profile (every identity, agents' notes, details, tags, custom fields, organization), and of a ticket she was only CC'd on nothing of the requester's matter", async function () {
    this.timeout(60_000);
    const user = z.store.user(ADA_ID)!;
    Object.assign(user, {
      secondary_emails: ["ada.l@analytical.example"],
      notes: "NOTE: prefers calls after 6pm",
      details: "DETAILS: 12 St James's Square",
      tags: ["tag-vip-ada"],
      user_fields: { employer: "EMPLOYER Analytical Engines" },
      organization_id: 4242,
    });
    const ccd = ticketsOf(z, ADA_ID).filter(({ role }) => role === "cc").map(({ ticket }) => ticket);
    expect(ccd.length, "the seed copies Ada on another person's threads").to.be.greaterThan(0);
    for (const ticket of ccd) {
      ticket.subject = `REQUESTERS-MATTER-${ticket.id}`;
      ticket.tags = [`requesters-tag-${ticket.id}`];
    }

    const access = await finishedRequest(t, "ACCESS", ADA_PERSON.email, SHOW);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const { data } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
    for (const held of ["ada.l@analytical.example", ADA_PERSON.phone!, "NOTE: prefers calls after 6pm", "DETAILS: 12 St James", "tag-vip-ada", "EMPLOYER Analytical Engines", "4242"]) {
      expect(data, `Ada's profile at Zendesk holds ${held}`).to.include(held);
    }
    for (const ticket of ccd) {
      expect(data, `ticket ${ticket.id} Ada was CC'd on is in her export`).to.include(`"${ticket.id}"`);
      expect(data, "the requester's subject line").not.to.include(`REQUESTERS-MATTER-${ticket.id}`);
      expect(data, "the requester's tags").not.to.include(`requesters-tag-${ticket.id}`);
    }
  });

  it("deletes Ada's old suspended emails, keeps the recent one under the rule (then purges it), and leaves every lookalike's data as it was", async function () {
    this.timeout(90_000);
    const { ada, others, users } = seed();
    const othersBefore = JSON.stringify({ others, users, tickets: z.store.state.tickets.filter((x) => users.some((u) => u.id === x.requester_id)) });

    const deletion = await finishedRequest(t, "DELETION", ADA_PERSON.email, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const held = () => z.store.suspendedTickets().map((s) => s.id);
    // What Zendesk holds now: the old two gone, the recent one there, and the lookalikes' untouched.
    expect(held()).to.not.include.members([ada[0].id, ada[1].id, ada[3].id]);
    expect(held()).to.include(ada[2].id);
    expect(z.store.effects.suspendedTicketDeletes).to.equal(3);
    const othersNow = JSON.stringify({ others: z.store.suspendedTickets().filter((s) => others.some((o) => o.id === s.id)), users: users.map((u) => z.store.user(u.id)), tickets: z.store.state.tickets.filter((x) => users.some((u) => u.id === x.requester_id)) });
    expect(othersNow, "the lookalikes' suspended emails, users and tickets").to.equal(othersBefore);

    // The request says exactly that: the plan counted the four, the outcome erased three and kept one.
    const exception = deletion.retentionExceptions.filter((e: any) => e.connector === connector.spec.name && e.recordType === "suspended_ticket");
    expect(exception).to.deep.equal([{ connector: connector.spec.name, recordType: "suspended_ticket", recordCount: 1, status: "OPEN" }]);
    const line = deletion.deletionOutcome.find((l: any) => l.connector === connector.spec.name);
    expect(line.matchesPlan, JSON.stringify(line)).to.equal(true);
    expect(deletion.notSearched.map((n: any) => n.recordType)).to.include("side_conversation");

    // The rule's 2 days pass: the purge deletes the kept one and closes its exception.
    t.clock.advance(3 * DAY);
    await t.waitFor(async () => {
      const now = (await t.ok(SHOW, { id: deletion.id })).request;
      return now.retentionExceptions.length && now.retentionExceptions.every((e: any) => e.status === "CLOSED") ? true : undefined;
    }, "every exception closed", 30_000);
    expect(held()).to.not.include(ada[2].id);
    expect(held()).to.have.members(others.map((s) => s.id));
  });
});
