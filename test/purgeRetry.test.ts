import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { submit, TEST_START, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import type { Connector, ErasureInstruction, ErasureOutcome, Identities, TaskContext } from "../src/connectors/sdk";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000", DSR_TASK_MAX_ATTEMPTS: "1", DSR_RATE_LIMIT_PER_SECOND: "0" };
const DAY = 86_400_000;
const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status closedAt tasks { id step status lastError outcome { erased } }
  retentionExceptions { status recordCount holdId retainUntil } auditEvents { action } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;

/** A ticketing system that erases in units; during a purge it lingers after its unit, until let go. */
class LingeringTickets extends ScriptedConnector {
  linger: { unitEnded: () => void; letGo: Promise<void> } | null = null;
  override async erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    const linger = this.linger;
    if (!linger) return super.erase(ids, instruction, ctx);
    let out: ErasureOutcome = { erased: 0 };
    await ctx.eraseUnit("SUPPORT", async () => {
      out = await super.erase(ids, instruction, ctx);
      return out.erased;
    });
    linger.unitEnded();
    await linger.letGo;
    return out;
  }
}

/**
 * Purges of kept sets, years after their deletion ended. The sweep leaves a FAILED one for an operator's
 * retryTask: the grace that bounds retries of a request's own tasks (what it collected and surveyed is
 * removed after it) is no reason to refuse a purge's, which works from the identities kept while its
 * exceptions are open, and nothing else would ever purge the set. And a purge closes an exception as
 * purged only for what the system no longer holds.
 */
describeEachDatabase("purges of kept sets", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
  });

  /** Ada's deletion (under a hold on SUPPORT when `caseReference` is given), once it ended `status`. */
  async function deletion(connectors: Connector[], caseReference: string | null, status = "COMPLETED") {
    const svc = (t = await new TestService(db(), FAST, connectors).start());
    const hold = caseReference
      ? (await svc.ok(PLACE, { input: { subjectEmail: ADA, categories: ["SUPPORT"], reason: "litigation", caseReference } }, Role.PRIVACY_OFFICER)).placeLegalHold.id
      : null;
    const r = await submit(svc, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await svc.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const show = async () => (await svc.ok(SHOW, { id: r.id })).request;
    const done = await svc.waitFor(async () => {
      const x = await show();
      return x.status === status ? x : undefined;
    }, `deletion ${status}`);
    const purge = (wanted: string[]) => svc.waitFor(async () => {
      const x = await show();
      return x.tasks.find((y: any) => y.step === "PURGE" && wanted.includes(y.status)) ? x : undefined;
    }, `purge ${wanted.join(" or ")}`);
    return { svc, hold, done, show, purge };
  }
  const sixYearsOld = () => new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seedDated(ADA, [new Date(TEST_START.getTime() - 6 * 365 * DAY)]);
  const requestEvents = (x: any) => x.auditEvents.map((e: any) => e.action).filter((a: string) => a.startsWith("request."));
  const purgeOf = (x: any) => x.tasks.find((y: any) => y.step === "PURGE");

  for (const ended of ["COMPLETED", "FAILED"] as const) {
    it(`re-runs a failed PURGE long after its deletion ended, erasing the set and closing its exceptions, and leaves the request ${ended}`, async function () {
      this.timeout(30_000);
      const tickets = sixYearsOld();
      const connectors: Connector[] = [tickets];
      // Another system refuses the erasure for good: the deletion FAILS, and what the hold kept stays its exception.
      if (ended === "FAILED") connectors.push(new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 1).script("erase", { kind: "fatal" }));
      const { svc, hold, done, purge } = await deletion(connectors, "CASE-9", ended);
      expect(done.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["OPEN"]);

      // The case is settled a year later; the ticketing system refuses the purge once.
      svc.clock.advance(365 * DAY);
      tickets.script("erase", { kind: "fatal" });
      await svc.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
      const failed = purgeOf(await purge(["FAILED"]));
      expect(tickets.data.get(ADA), "the failed purge erased nothing").to.have.length(1);

      const retried = await svc.gql(`mutation($id: ID!) { retryTask(id: $id) { id status } }`, { id: failed.id });
      expect(retried.errors?.map((e) => e.message) ?? [], "the operator's retry is taken").to.deep.equal([]);
      const after = await purge(["SUCCEEDED"]);
      expect(tickets.data.get(ADA), "the held set is purged").to.equal(undefined);
      expect(purgeOf(after).outcome.erased).to.equal(1);
      expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
      // A purge is no step of the request's: it stays as it ended, with no reopening in its trail.
      expect([after.status, after.closedAt]).to.deep.equal([ended, done.closedAt]);
      expect(requestEvents(after)).to.deep.equal(requestEvents(done));
    });
  }

  it("reports the purged set as gone, not as kept records the system no longer holds, when a hold comes after the purge's unit ended", async function () {
    this.timeout(30_000);
    // Kept by the 5-year rule at the deletion, due a year and a day later.
    const tickets = new LingeringTickets({ name: "tickets", categories: ["SUPPORT"] }).seedDated(ADA, [new Date(TEST_START.getTime() - 4 * 365 * DAY)]);
    const { svc, done, purge } = await deletion([tickets], null);
    expect(done.retentionExceptions.map((e: any) => [e.status, e.recordCount, e.holdId])).to.deep.equal([["OPEN", 1, null]]);

    let unitEnded!: () => void;
    const ended = new Promise<void>((resolve) => (unitEnded = resolve));
    let letGo!: () => void;
    tickets.linger = { unitEnded, letGo: new Promise<void>((resolve) => (letGo = resolve)) };
    svc.clock.advance(366 * DAY + 60_000);
    await ended;
    expect(tickets.data.get(ADA), "the purge's unit erased the set").to.equal(undefined);
    await svc.ok(PLACE, { input: { subjectEmail: ADA, categories: ["SUPPORT"], reason: "litigation", caseReference: "CASE-10" } }, Role.PRIVACY_OFFICER);
    letGo();

    const after = await purge(["SUCCEEDED"]);
    const kept = after.retentionExceptions.filter((e: any) => e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
    expect(purgeOf(after).outcome.erased, "the purge erased the record").to.equal(1);
    expect(kept, `records reported kept, while the system holds ${tickets.data.get(ADA)?.length ?? 0}: ${JSON.stringify(after.retentionExceptions)}`).to.equal(0);
  });

  it("fails loudly and leaves the set's exception open, instead of closing it as purged while the system still holds it", async function () {
    this.timeout(30_000);
    const tickets = sixYearsOld();
    const { svc, hold, purge } = await deletion([tickets], "CASE-11");
    // The system answers the purge's erase with success and deletes nothing.
    tickets.eraseIsNoop = true;
    await svc.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purge(["SUCCEEDED", "FAILED"]);
    expect(tickets.data.get(ADA), "the system still holds the record").to.have.length(1);
    expect(after.retentionExceptions.map((e: any) => e.status), "the exception says the record is still kept").to.deep.equal(["OPEN"]);
    expect([purgeOf(after).status, purgeOf(after).lastError]).to.deep.equal(["FAILED", "Verification after erasure found 1 record(s) still present outside the retention exceptions (SUPPORT: 1)"]);
  });
});
