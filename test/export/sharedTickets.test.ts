import { expect } from "chai";
import { LEFT_OUT_SHARED_REASON, SHARED_THREAD_REASON } from "../../src/connectors/zendesk/records";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn, ZendeskTicket } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { ADA_PERSON, expectedRecordCount, isStaff, PEOPLE, redactedToNothing, sharedResidue, ticketsOf } from "../connectors/support/zendeskStandIn";
import { archiveTexts, download, exportLink, finishedRequest, zendeskServiceEach } from "./support";

const ADA_ID = Number(ADA_PERSON.ticketingUserId);
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status outcome { records erased } }
  deletionPlan { connector category found toErase toKeep toLeaveResidual residualReason }
  deletionOutcome { connector erased kept residual plannedToErase plannedToLeaveResidual matchesPlan differences { kind records } }
  residualRecords { connector recordType records fields reason } retentionExceptions { status } } }`;

/**
 * Ada opened support threads on which a customer she (or an agent) copied in wrote too. That person's
 * comments are their words and identity, not Ada's: her access must not hand them over (GDPR Art.
 * 15(4)), and her deletion must not erase them. Checked against the stand-in's own data and the export.
 */
describeEachDatabase("threads the subject opened that another customer wrote on", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  // Support threads kept 30 days: a deletion erases every thread rather than keep it for a later purge.
  zendeskServiceEach(db, "30 days", (s) => ({ z, connector, t } = s));
  // Here every residue is the shared threads': the closed tickets Ada is CC'd on (which Zendesk takes no
  // update of, so she stays on their CCs, residual) are solved instead. test/connectors/zendeskTruth.test.ts covers those.
  beforeEach(() => {
    for (const ticket of z.store.state.tickets) if (ticket.status === "closed" && ticket.collaborator_ids.includes(ADA_ID)) ticket.status = "solved";
  });

  const finished = (type: string) => finishedRequest(t, type, ADA_PERSON.email, SHOW);
  /** Ada's requested threads, and on them the comments of other customers (neither Ada nor staff). */
  const shared = () => {
    const requested = ticketsOf(z, ADA_ID).filter(({ role }) => role === "requester").map(({ ticket }) => ticket);
    const othersOn = (ticket: ZendeskTicket) => ticket.comments.filter((c) => c.author_id !== ADA_ID && !isStaff(z, c.author_id));
    const threads = requested.filter((ticket) => othersOn(ticket).length > 0);
    return { requested, threads, others: threads.flatMap(othersOn) };
  };

  it("leaves the other customer's comments out of Ada's access, and says so in manifest.json and README.txt", async function () {
    this.timeout(60_000);
    const { others } = shared();
    expect(others.length, "the seed has customers writing on threads Ada opened").to.be.greaterThan(0);
    const writers = PEOPLE.filter((p) => others.some((c) => c.author_id === Number(p.ticketingUserId)));
    expect(writers.length).to.be.greaterThan(0);

    const access = await finished("ACCESS");
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(expectedRecordCount(z, ADA_ID));
    const got = await download((await exportLink(t, access.id)).url);
    const { manifest, data, readme } = await archiveTexts(got.file!);
    for (const c of others) {
      expect(data, `comment ${c.id} by another customer is in Ada's export`).not.to.include(`"${c.id}"`);
      for (const a of c.attachments) expect(data, `attachment ${a.id} of another customer's comment`).not.to.include(`"${a.id}"`);
    }
    const shares = manifest.leftOut.filter((l) => l.reason === LEFT_OUT_SHARED_REASON);
    expect(shares).to.deep.equal([{ connector: connector.spec.name, category: "SUPPORT", type: "comment", records: others.length, reason: LEFT_OUT_SHARED_REASON }]);
    expect(readme).to.include(`${others.length} comment record(s), ${LEFT_OUT_SHARED_REASON}`);
    for (const p of writers) expect(JSON.stringify(manifest.leftOut)).not.to.include(p.email);
  });

  it("erases Ada's words on those threads, leaves the other customer's comments as they were, and names what remains residual", async function () {
    this.timeout(90_000);
    const { requested, threads, others } = shared();
    const otherBefore = JSON.stringify(others);
    const onShared = threads.flatMap((ticket) => ticket.comments);
    const adaOwn = onShared.filter((c) => c.author_id === ADA_ID);
    const staffReplies = onShared.filter((c) => isStaff(z, c.author_id));
    // Threads with activity inside the 30 days are kept whole (and Ada's user with them): the rest go.
    const recent = (ticket: ZendeskTicket) => Date.now() - Date.parse(ticket.updated_at) < 30 * 86_400_000;
    const alone = requested.filter((ticket) => !threads.includes(ticket) && !recent(ticket)).map((ticket) => ticket.id);
    expect(threads.some(recent), "a shared thread inside the rule would be kept whole, not tested here").to.equal(false);
    expect(adaOwn.length, "Ada wrote on the shared threads").to.be.greaterThan(0);
    const planned = expectedRecordCount(z, ADA_ID);
    const staffAttachments = staffReplies.reduce((n, c) => n + c.attachments.length, 0);
    const residualCount = threads.length + staffReplies.length + staffAttachments;

    // Before approving, the privacy officer's preview already says what erasure will leave, and why.
    const preview = (await t.ok(`mutation($s: SubjectInput!) { previewDeletion(input: { subject: $s }) { lines { connector found toErase toKeep toLeaveResidual residualReason } } }`, { s: { email: ADA_PERSON.email } })).previewDeletion;
    const previewed = preview.lines.find((l: any) => l.connector === connector.spec.name);
    expect(previewed).to.deep.include({ connector: connector.spec.name, found: planned, toLeaveResidual: residualCount, residualReason: SHARED_THREAD_REASON });
    expect(previewed.toErase + previewed.toKeep + previewed.toLeaveResidual).to.equal(planned);

    const deletion = await finished("DELETION");
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");

    // The other customer's words are at Zendesk as they were, on threads that still exist.
    const now = others.map((c) => z.store.state.tickets.flatMap((ticket) => ticket.comments).find((x) => x.id === c.id));
    expect(JSON.stringify(now), "the other customer's comments at Zendesk").to.equal(otherBefore);
    for (const ticket of threads) expect(z.store.ticket(ticket.id), `shared thread ${ticket.id}`).to.not.equal(undefined);
    // Ada's own words on them are redacted; her threads with no one else on them are gone.
    const held = (id: number) => z.store.state.tickets.flatMap((ticket) => ticket.comments).find((x) => x.id === id);
    for (const c of adaOwn) expect(redactedToNothing(held(c.id)!), `Ada's comment ${c.id} redacted`).to.equal(true);
    for (const id of alone) expect(z.store.state.tickets.some((ticket) => ticket.id === id), `thread ${id} only Ada wrote on`).to.equal(false);

    // What the request reports is what Zendesk holds: the thread and the staff's replies remain, named residual.
    const residual = deletion.residualRecords.filter((r: any) => r.connector === connector.spec.name);
    const expected = [
      { connector: connector.spec.name, recordType: "ticket", records: threads.length, fields: ["subject", "requester"], reason: SHARED_THREAD_REASON },
      { connector: connector.spec.name, recordType: "comment", records: staffReplies.length, fields: ["body"], reason: SHARED_THREAD_REASON },
      ...(staffAttachments ? [{ connector: connector.spec.name, recordType: "attachment", records: staffAttachments, fields: ["file_name", "content"], reason: SHARED_THREAD_REASON }] : []),
    ];
    expect(residual).to.have.deep.members(expected);
    const line = deletion.deletionOutcome.find((l: any) => l.connector === connector.spec.name);
    expect(line.residual).to.equal(residualCount);
    expect(line.erased + line.kept + line.residual, "erased, kept and residual add up to what the plan found").to.equal(planned);
    // The plan foresaw that residue: the erasure did what it said.
    const plan = deletion.deletionPlan.find((l: any) => l.connector === connector.spec.name);
    expect(plan).to.deep.include({ found: planned, toErase: previewed.toErase, toKeep: previewed.toKeep, toLeaveResidual: residualCount, residualReason: SHARED_THREAD_REASON });
    expect(line).to.deep.include({ plannedToErase: plan.toErase, plannedToLeaveResidual: residualCount, erased: plan.toErase, kept: plan.toKeep, matchesPlan: true, differences: [] });
    expect(JSON.stringify(deletion.residualRecords)).not.to.include("@");

    // The 30 days pass: the purge erases the kept threads and Ada's user, and names what stays on the
    // shared ones residual. The request names each such record once, whichever pass met it (the
    // erasure named the old threads', the purge meets them again with the newer ones).
    t.clock.advance(60 * 86_400_000);
    const purged = await t.waitFor(async () => {
      const now = (await t.ok(SHOW, { id: deletion.id })).request;
      return now.retentionExceptions.length && now.retentionExceptions.every((e: any) => e.status === "CLOSED") ? now : undefined;
    }, "every exception closed", 30_000);
    expect(z.store.user(ADA_ID), "Ada's user deleted for good by the purge").to.equal(undefined);
    const named: Record<string, number> = {};
    for (const r of purged.residualRecords.filter((x: any) => x.connector === connector.spec.name)) named[r.recordType] = (named[r.recordType] ?? 0) + r.records;
    expect(named, "residual records named on the request, each once").to.deep.equal(sharedResidue(z, ADA_ID));
  });
  it("names the residue the plan foresaw and erasure avoided: the other customer's words were gone by the time it ran", async function () {
    this.timeout(90_000);
    const { threads } = shared();
    expect(threads.length, "two shared threads at least: the erasure's first call is about another").to.be.greaterThan(1);
    // The last shared thread (Zendesk lists threads by id): the other customer's comments go between the
    // plan and the erasure's work on it, so erasure deletes it whole instead of leaving it residual.
    const cleared = threads.reduce((a, b) => (b.id > a.id ? b : a));
    const staffOn = cleared.comments.filter((c) => isStaff(z, c.author_id));
    const clearedResidue = 1 + staffOn.length + staffOn.reduce((n, c) => n + c.attachments.length, 0);
    const residualCount = Object.values(sharedResidue(z, ADA_ID)).reduce((n, v) => n + v, 0);

    // Held at the erasure's first change to Zendesk (the plan is stored by then: the survey ran before).
    const deleting = z.faults.pause({ method: "DELETE" });
    const redacting = z.faults.pause({ method: "PUT" });
    const r = await submit(t, { type: "DELETION", subject: { email: ADA_PERSON.email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await Promise.race([deleting.reached, redacting.reached]);
    const plan = (await t.ok(SHOW, { id: r.id })).request.deletionPlan.find((l: any) => l.connector === connector.spec.name);
    expect(plan.toLeaveResidual, "the plan foresaw every shared thread's residue").to.equal(residualCount);
    const held = z.store.ticket(cleared.id)!;
    held.comments = held.comments.filter((c) => c.author_id === ADA_ID || isStaff(z, c.author_id));
    deleting.release();
    redacting.release();

    const done = await t.waitFor(async () => {
      const x = (await t.ok(SHOW, { id: r.id })).request;
      return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
    }, "deletion finished", 30_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(z.store.ticket(cleared.id), "the thread no one else wrote on any more is deleted").to.equal(undefined);
    const line = done.deletionOutcome.find((l: any) => l.connector === connector.spec.name);
    expect(line.residual).to.equal(residualCount - clearedResidue);
    expect(line.erased - line.plannedToErase).to.equal(clearedResidue);
    expect(line.matchesPlan).to.equal(false);
    expect(line.differences).to.deep.equal([{ kind: "RESIDUAL_AVOIDED", records: clearedResidue }]);
  });
});
