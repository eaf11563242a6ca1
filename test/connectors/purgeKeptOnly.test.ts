import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { id step status lastError outcome { erased kept residual } }
  residualRecords { connector recordType records reason }
  retentionExceptions { connector category recordType recordCount status holdId }
  auditEvents { action details } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { signed } }`;

/**
 * A purge erases what its deletion kept, and nothing the person wrote since. It used to look the person
 * up again by address: after a hold was released it erased the notes of an account she opened after the
 * deletion (7 erased where the deletion had kept 6), and a retention purge counted her new invoices into
 * the old request's kept sets (a new exception, purged again in 7 years, for ever). Checked against the
 * stand-in's own store.
 */
describeEachDatabase("a purge erases exactly what the deletion kept", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  /** The request once its purge ended, read again after: one read's tasks and exceptions are two queries, and the purge's commit may fall between them. */
  const purged = async (id: string) => {
    await t.purgeEnded(SHOW, id);
    return show(id);
  };
  const certificate = async (id: string) => {
    const signed = JSON.parse((await t.ok(CERTIFICATE, { id })).deletionCertificate.signed);
    return signed.certificate ?? signed.body ?? signed;
  };
  /** Ada signs up again, as user 5, and writes a note (and pays an invoice) dated `at`. */
  const signsUpAgain = (at: Date) => {
    standIn.users.push({ id: 5, email: "ada.lovelace@example.com", name: "Ada again", phone: null });
    standIn.notes.push({ id: "n-new", user: 5, text: "Ada's new note", created_at: at.toISOString() });
    standIn.invoices.push({ id: "in-new", user: 5, billing_name: "Ada Again", billing_address: "1 New Street", amount: 42, issued_at: at.toISOString() });
  };

  // SUPPORT has a rule of its own (5 years from the record), COMMUNITY none: its purge used to erase by address whatever it found.
  for (const category of ["SUPPORT", "COMMUNITY"]) {
    it(`leaves the note she wrote since the deletion when a hold's release purges the ${category} notes it kept, and counts 6 erased, not 7`, async function () {
      this.timeout(90_000);
      dateAda(standIn, "old");
      const config = restConfig(standIn);
      config.resources[0].category = category;
      t = await hooks.serviceOver(config);
      const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: [category], reason: "litigation", caseReference: "K-1" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
      const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([[category, 5]]);

      t.clock.advance(60_000);
      signsUpAgain(t.clock.now());
      await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
      const after = await purged(deletion.id);
      const purge = after.tasks.find((x: any) => x.step === "PURGE");
      expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);

      expect(standIn.notes.filter((n) => n.user === 1), "the kept notes are purged").to.deep.equal([]);
      expect(standIn.notes.filter((n) => n.user === 5).map((n) => n.id), "the note she wrote since stays").to.deep.equal(["n-new"]);
      expect(standIn.users.find((u) => u.id === 5)?.name, "so does her new account").to.equal("Ada again");
      expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => c.path).sort()).to.deep.equal(["/api/notes/n-a1", "/api/notes/n-a2", "/api/notes/n-a3", "/api/notes/n-a4", "/api/notes/n-a5", "/api/users/1"]);
      // The 5 kept notes and the account they held back: 6, as the deletion kept them.
      expect(purge.outcome.erased).to.equal(6);
      expect(purge.outcome.kept ?? 0, "the new note is not the deletion's to keep").to.equal(0);
      expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([[category, 5, "CLOSED"]]);
      expect((await certificate(deletion.id)).kept.map((k: any) => [k.category, k.records, k.status])).to.deep.equal([[category, 5, "CLOSED"]]);
    });
  }

  // A purge's DELETE lands and is answered 400 (a refusal: the purge FAILS at once), and an operator's
  // retryTask runs it again, its attempts counted from 1: the run gets the failed attempt's note back.
  it("sends the DELETE a failed purge had answered 400 again on its retryTask, and counts the 6 it purged once", async function () {
    this.timeout(90_000);
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["SUPPORT"], reason: "litigation", caseReference: "K-2" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["SUPPORT", 5]]);
    standIn.faults.push({ status: 400, method: "DELETE", after: 2, through: "answer" });
    const before = standIn.calls.length;
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const failed = (await purged(deletion.id)).tasks.find((x: any) => x.step === "PURGE");
    expect(failed.status).to.equal("FAILED");
    // The stand-in: n-a1, n-a2 deleted and answered 204; n-a3 deleted, then answered 400.
    expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a4", "n-a5"]);
    const sentBefore = standIn.calls.length;
    await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: failed.id });
    // Re-queued PENDING by the retryTask: the purge ended again once it reads SUCCEEDED or FAILED.
    const after = await purged(deletion.id);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(standIn.notes.filter((n) => n.user === 1), "the kept notes are purged").to.deep.equal([]);
    // The 5 kept notes and the account: 6, each once (the 2 the failed attempt's units counted, and the retry's 4).
    expect(purge.outcome.erased).to.equal(6);
    // n-a3's DELETE is sent again first and answered 404: the system's answer to this purge's own write (was: never sent again, 5 counted).
    expect(standIn.calls.slice(sentBefore).filter((c) => c.method === "DELETE").map((c) => `${c.path} ${c.status}`)).to.deep.equal(["/api/notes/n-a3 404", "/api/notes/n-a4 204", "/api/notes/n-a5 204", "/api/users/1 204"]);
    expect(standIn.calls.slice(before).filter((c) => c.method === "DELETE" && c.status !== 404).length).to.equal(6);
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["SUPPORT", 5, "CLOSED"]]);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM erasure_units WHERE taskId = ?`, [purge.id]))[0].n), "notes left behind").to.equal(0);
  });

  it("deletes the account a hold on accounts kept, by its id, and not the account she opened since under the same address", async function () {
    this.timeout(90_000);
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["ACCOUNT"], reason: "litigation", caseReference: "K-2" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["ACCOUNT", 1]]);
    // An account carries no date here: only its id tells the deletion's from the one she opens now.
    standIn.users.push({ id: 5, email: "ada.lovelace@example.com", name: "Ada again", phone: null });
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(standIn.users.map((u) => u.id)).to.deep.equal([2, 3, 4, 5]);
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/users/")).map((c) => c.path)).to.deep.equal(["/api/users/1"]);
    expect(purge.outcome.erased, "the one account the deletion kept").to.equal(1);
    expect(purge.outcome.kept ?? 0).to.equal(0);
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["ACCOUNT", 1, "CLOSED"]]);
  });

  it("does not count invoices she paid since the deletion into its kept sets when the tax rule's period ends", async function () {
    this.timeout(90_000);
    dateAda(standIn, "recent");
    t = await hooks.serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordType, e.recordCount])).to.deep.equal([["PAYMENTS", "invoice", 3]]);

    // Seven years on she pays again (dated after the period's end, so still inside the rule when the purge runs).
    signsUpAgain(new Date(t.clock.now().getTime() + 8 * 366 * 86_400_000));
    t.clock.advance(7 * 366 * 86_400_000);
    const after = await purged(deletion.id);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name !== null), "the kept invoices are anonymised").to.deep.equal([]);
    expect(standIn.invoices.find((i) => i.id === "in-new"), "her new invoice stays as it is").to.deep.include({ billing_name: "Ada Again" });
    expect(standIn.notes.find((n) => n.id === "n-new"), "and her new note").to.not.equal(undefined);
    expect(purge.outcome.erased, "the 3 kept invoices and the account they held back").to.equal(4);
    expect(purge.outcome.kept ?? 0).to.equal(0);
    // The old request keeps nothing of hers now: no new exception follows her for another 7 years.
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["PAYMENTS", 3, "CLOSED"]]);
    expect((await certificate(deletion.id)).kept.map((k: any) => k.status)).to.deep.equal(["CLOSED"]);
  });
});
