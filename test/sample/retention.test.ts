import { expect } from "chai";
import pino from "pino";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { purgeExpiredExports } from "../../src/export/purge";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { sharedResidue, sharedThreads } from "../connectors/support/zendeskStandIn";

const ADA = "ada.lovelace@example.com";
const YEAR = 365 * 86_400_000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status outcome { erased kept remaining } }
  retentionExceptions { connector category recordType recordCount legalBasis holdId retainUntil status }
  residualRecords { connector recordType records } } }`;

describeEachDatabase("retention on the sample workspace", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("keeps a held category whole, purges it on release down to what its rule keeps, and purges the rest as periods end", async function () {
    this.timeout(120_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 500, people: 20, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000" }, ws.connectors).start();
    // Each look ticks the clock a little, so polls of Stripe's redaction jobs come due.
    const show = async (id: string) => {
      t.clock.advance(2);
      return (await t.ok(SHOW, { id })).request;
    };
    const ids = { email: ADA, ...(await ws.connectors[0].resolve!({ email: ADA }, testContext())) };
    const holding = async (name: string) => collectAll(ws.connectors.find((c) => c.spec.name === name)!, ids);
    const ticketsBefore = await holding("ticketing");

    const { placeLegalHold: hold } = await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["SUPPORT"], reason: "Complaint to the regulator", caseReference: "REG-42" }) { id } }`);
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await t.waitFor(async () => ((await show(r.id)).status !== "IN_PROGRESS" ? show(r.id) : undefined), "deletion finished", 60_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const byConnector = (request: any, status = "OPEN") => request.retentionExceptions.filter((e: any) => e.status === status).reduce((m: any, e: any) => ({ ...m, [e.connector]: [...(m[e.connector] ?? []), e] }), {});
    const open = byConnector(done);
    expect(open.ticketing).to.have.length(1);
    expect(open.ticketing[0]).to.include({ holdId: hold.id, recordCount: ticketsBefore.length, retainUntil: null, legalBasis: "legal hold REG-42" });
    expect(await holding("ticketing"), "held: untouched").to.have.length(ticketsBefore.length);
    expect(open.payments.every((e: any) => e.legalBasis === "tax and financial compliance")).to.equal(true);
    expect(open["auth-log"][0]).to.include({ category: "AUTH_LOGS", legalBasis: "security monitoring and fraud prevention" });
    expect(await holding("account-db")).to.deep.equal([]);

    // A day and more on: the exceptions are open, and the purges that end them erase through the
    // identities the deletion resolved (her payment customer id, her ticketing user id), so they stay.
    const identities = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM request_identities WHERE requestId = ?`, [r.id]))[0].n);
    const resolved = await identities();
    expect(resolved, "the email and what the account database resolved").to.be.greaterThan(2);
    t.clock.advance(2 * 86_400_000);
    expect((await purgeExpiredExports(t.service.services)).identities).to.equal(0);
    expect(await identities()).to.equal(resolved);

    // Released: the purge erases what the hold alone kept; threads inside 5 years stay under the rule.
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Complaint closed") { id } }`, { id: hold.id });
    const released = await t.waitFor(async () => {
      const now = await show(r.id);
      return now.retentionExceptions.some((e: any) => e.holdId === hold.id && e.status === "CLOSED") ? now : undefined;
    }, "held set purged", 60_000);
    const afterRelease = await holding("ticketing");
    expect(afterRelease.length).to.be.greaterThan(0).and.lessThan(ticketsBefore.length);
    const fiveYearsAgo = t.clock.now().getTime() - 5 * YEAR - 2 * 86_400_000;
    // Older threads left are those another customer wrote on: they stay for that person (named residual, sharedTickets.test.ts).
    const shared = new Set(sharedThreads(ws.zendesk, Number(ids.ticketingUserId)).map((x) => String(x.id)));
    expect(afterRelease.filter((x) => x.type === "ticket" && !shared.has(x.id)).every((x) => (x.recordedAt?.getTime() ?? Infinity) >= fiveYearsAgo)).to.equal(true);
    expect(byConnector(released).ticketing.every((e: any) => e.legalBasis === "service quality and dispute resolution" && e.retainUntil)).to.equal(true);

    // Eight years on, every period has ended: everything is purged and every exception closed.
    t.clock.advance(8 * YEAR);
    const ended = await t.waitFor(async () => {
      const now = await show(r.id);
      return now.retentionExceptions.every((e: any) => e.status === "CLOSED") ? now : undefined;
    }, "every exception closed", 30_000).catch(async (e) => {
      console.log(JSON.stringify(await show(r.id), null, 1));
      throw e;
    });
    expect(ended.status).to.equal("COMPLETED");
    for (const name of ["auth-log", "payments", "ticketing"]) expect(await holding(name), name).to.deep.equal([]);
    // What stays on threads another customer wrote on is named residual, each record once, however many
    // passes (the erasure, then the purges) met it.
    const residue = sharedResidue(ws.zendesk, Number(ids.ticketingUserId));
    const named: Record<string, number> = {};
    for (const r of ended.residualRecords.filter((x: any) => x.connector === "ticketing")) named[r.recordType] = (named[r.recordType] ?? 0) + r.records;
    expect(named, "residual records named on the request").to.deep.equal(residue);
    // The last exception closed: the identities have served their purpose and go with the next purge.
    expect((await purgeExpiredExports(t.service.services)).identities).to.equal(resolved);
    expect(await identities()).to.equal(0);
    const values = Object.values(ids).filter((v): v is string => typeof v === "string");
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM request_identities WHERE value IN (${values.map(() => "?").join(", ")})`, values))[0].n)).to.equal(0);
  });
});
