import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { ACCOUNT_HOLDS_KEPT_RECORDS, ACCOUNT_NOT_HERS, ACCOUNT_NOT_LISTED } from "../../src/connectors/http/httpConnector";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";
import { archiveTexts, download, exportLink } from "../export/support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { id step status lastError outcome { erased residual } }
  residualRecords { connector recordType records fields reason }
  erasedResidue { connector category recordType records reason erasedAt }
  retentionExceptions { connector category recordType recordCount status holdId }
  auditEvents { action details } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { signed } }`;
const ACCOUNT_FIELDS = ["email", "name", "phone"];
const ACCESS = `query($id: ID!) { request(id: $id) { id status statusReason } }`;

/**
 * Residue left on purpose must not outlive its reason. A deletion leaves the person's helpdesk account
 * in place while records under it are kept (by a legal hold or a retention rule): deleting it would take
 * them with it. Once the purge erases those records, nothing holds the account back any more. It used
 * to stay for good, while the request went on naming it residual "because records under it are kept"
 * (records that were gone). Checked against the stand-in's own store.
 */
describeEachDatabase("residue held back by kept records, once they are purged", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const accountOf = (id: number) => standIn.users.find((u) => u.id === id);
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  /** The request once its PURGE task has ended in one of `wanted` (after `runs` purges of it, counted by purge_scheduled events). */
  const purged = (id: string, runs = 1, wanted = ["SUCCEEDED"]) =>
    t.waitFor(
      async () => {
        const x = await show(id);
        const scheduled = x.auditEvents.filter((e: any) => e.action === "task.purge_scheduled").length;
        const task = x.tasks.find((y: any) => y.step === "PURGE");
        return scheduled >= runs && task && wanted.includes(task.status) ? x : undefined;
      },
      `purge ${wanted.join(" or ")}`,
      30_000,
    );

  /** Ada's deletion on a fresh service, her notes dated long ago and held by a hold on SUPPORT (case `reference`): the hold's id and the ended request. */
  const deletedUnderHold = async (reference: string) => {
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["SUPPORT"], reason: "litigation", caseReference: reference } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    return { hold, deletion };
  };

  it("deletes the account by its id once the hold on the records under it is released, and a new account of the person stays", async function () {
    this.timeout(90_000);
    const { hold, deletion } = await deletedUnderHold("C-1");
    expect(accountOf(1), "the account stays while the hold keeps her notes").to.not.equal(undefined);
    expect(deletion.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_HOLDS_KEPT_RECORDS }]);

    // Later she signs up again with the same address: a new account, not the deletion's business.
    standIn.users.push({ id: 5, email: "ada.lovelace@example.com", name: "Ada again", phone: null });
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id);

    expect(standIn.notes.filter((n) => n.user === 1), "the held notes are purged").to.deep.equal([]);
    expect(accountOf(1), "the old account, held back only by the notes, is deleted").to.equal(undefined);
    expect(accountOf(5), "the account she made since the deletion stays").to.deep.include({ id: 5, name: "Ada again" });
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/users/")).map((c) => c.path)).to.deep.equal(["/api/users/1"]);
    expect(after.residualRecords, "nothing is residual any more").to.deep.equal([]);
    expect(after.erasedResidue.map((r: any) => ({ ...r, erasedAt: typeof r.erasedAt }))).to.deep.equal([
      { connector: "helpdesk", category: "ACCOUNT", recordType: "account", records: 1, reason: ACCOUNT_HOLDS_KEPT_RECORDS, erasedAt: "string" },
    ]);
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
    const event = after.auditEvents.find((e: any) => e.action === "residue.erased");
    expect(event?.details, "the trail says the residue was erased").to.deep.include({ connector: "helpdesk", records: 1 });
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect(purge.outcome).to.deep.include({ erased: 6 });

    // The certificate issued now names the account as erased later, and no longer as residual.
    const signed = JSON.parse((await t.ok(CERTIFICATE, { id: deletion.id })).deletionCertificate.signed);
    const body = signed.certificate ?? signed.body ?? signed;
    expect(body.residual).to.deep.equal([]);
    expect(body.residualErased.map((r: any) => [r.connector, r.recordType, r.records])).to.deep.equal([["helpdesk", "account", 1]]);
  });

  it("deletes the account once the tax rule's period for the invoices under it has passed and the purge anonymised them", async function () {
    this.timeout(90_000);
    dateAda(standIn, "recent");
    t = await hooks.serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(accountOf(1), "kept invoices hold the account back").to.not.equal(undefined);
    standIn.users.push({ id: 5, email: "Ada.Lovelace@example.com", name: "Ada again", phone: null });
    t.clock.advance(7 * 366 * 86_400_000);
    const after = await purged(deletion.id);
    expect(standIn.invoices.filter((i) => i.user === 1 && (i.billing_name !== null || i.billing_address !== null))).to.deep.equal([]);
    expect([accountOf(1), accountOf(5)?.name]).to.deep.equal([undefined, "Ada again"]);
    expect(after.residualRecords).to.deep.equal([]);
    expect(after.erasedResidue.map((r: any) => [r.category, r.recordType, r.records])).to.deep.equal([["ACCOUNT", "account", 1]]);
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
  });

  it("keeps the account, still named residual, while a hold on part of what it holds stays, and deletes it once the last is released", async function () {
    this.timeout(90_000);
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const support = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["SUPPORT"], reason: "litigation", caseReference: "C-2" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const payments = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["PAYMENTS"], reason: "audit", caseReference: "C-3" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");

    await t.ok(RELEASE, { id: support }, Role.PRIVACY_OFFICER);
    const first = await purged(deletion.id);
    expect(standIn.notes.filter((n) => n.user === 1)).to.deep.equal([]);
    expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name === "Ada Lovelace"), "the held invoices stay").to.have.length(3);
    expect(accountOf(1), "the invoices under it still hold the account back").to.not.equal(undefined);
    expect(first.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_HOLDS_KEPT_RECORDS }]);
    expect(first.erasedResidue).to.deep.equal([]);
    // What an access export tells her of earlier deletions: the account once, as still there.
    const residueInExport = async () => {
      const access = await runVerified(t, ACCESS, "ACCESS", ADA.email);
      expect(access.status, access.statusReason).to.equal("COMPLETED");
      return (await archiveTexts((await download((await exportLink(t, access.id)).url)).file!)).manifest.residualRecords.map((r) => [r.connector, r.recordType, r.records]);
    };
    expect(await residueInExport()).to.deep.equal([["helpdesk", "account", 1]]);

    await t.ok(RELEASE, { id: payments }, Role.PRIVACY_OFFICER);
    const second = await purged(deletion.id, 2);
    expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name !== null)).to.deep.equal([]);
    expect(accountOf(1)).to.equal(undefined);
    expect(second.residualRecords).to.deep.equal([]);
    expect(second.erasedResidue.map((r: any) => [r.recordType, r.records])).to.deep.equal([["account", 1]]);
    expect(second.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED", "CLOSED"]);
    expect(await residueInExport(), "the export no longer names the erased account as left").to.deep.equal([]);
  });

  it("names the account residual, saying why, instead of failing the purge, when it can no longer be listed (deleted by hand meanwhile)", async function () {
    this.timeout(90_000);
    standIn.notesOfMissingUser404 = true;
    const { hold, deletion } = await deletedUnderHold("C-5");
    // Someone deletes her account and its notes in the system by hand, before the hold is released.
    standIn.users.splice(standIn.users.findIndex((u) => u.id === 1), 1);
    standIn.notes = standIn.notes.filter((n) => n.user !== 1);
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id, 1, ["SUCCEEDED", "FAILED"]);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
    expect(after.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_NOT_LISTED }]);
    expect(after.erasedResidue).to.deep.equal([]);
  });

  it("leaves in place, named residual saying why, an account whose id the system gave to someone else before the purge", async function () {
    this.timeout(90_000);
    const { hold, deletion } = await deletedUnderHold("C-7");
    // By hand, her account and its notes are deleted in the system, and its id goes to a new customer.
    standIn.notes = standIn.notes.filter((n) => n.user !== 1);
    standIn.users.splice(standIn.users.findIndex((u) => u.id === 1), 1, { id: 1, email: "new.customer@example.org", name: "New customer", phone: null });
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await purged(deletion.id, 1, ["SUCCEEDED", "FAILED"]);
    const purge = after.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    // The system's own store: the new customer's account is there, and was never asked to be deleted.
    expect(accountOf(1)).to.deep.include({ email: "new.customer@example.org", name: "New customer" });
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/users/"))).to.deep.equal([]);
    expect(after.erasedResidue).to.deep.equal([]);
    expect(after.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_NOT_HERS }]);
  });

  // An API that remembers deletions answers 410 Gone where others answer 404: the same thing, the purge deleted nothing.
  for (const gone of [404, 410] as const) {
    it(`does not count as erased an account deleted by hand while the purge ran (its DELETE answering ${gone})`, async function () {
      this.timeout(90_000);
      standIn.goneStatus = gone;
      const { hold, deletion } = await deletedUnderHold(`C-6-${gone}`);
      // Someone deletes her account in the system while the purge erases the notes under it.
      standIn.afterAnswer = (call) => {
        const at = standIn.users.findIndex((u) => u.id === 1);
        if (call.method === "DELETE" && call.path.startsWith("/api/notes/") && at >= 0) standIn.users.splice(at, 1);
      };
      await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
      const after = await purged(deletion.id, 1, ["SUCCEEDED", "FAILED"]);
      const purge = after.tasks.find((x: any) => x.step === "PURGE");
      expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
      expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/users/1").map((c) => c.status)).to.deep.equal([gone]);
      expect(after.erasedResidue, "the purge erased no account").to.deep.equal([]);
    });
  }

  it("counts the account once when the purge that deleted it fails after the delete and is retried", async function () {
    this.timeout(90_000);
    const { hold, deletion } = await deletedUnderHold("C-4");
    // The account's DELETE goes through; the call after it (the purge's check) is refused for good, so the attempt fails.
    const deletes = () => standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/users/1" && c.status === 204).length;
    standIn.onCall = (call) => {
      if (call.method === "DELETE" && call.path === "/api/users/1" && call.status === 204) standIn.faults.push({ status: 400 });
    };
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const failed = await purged(deletion.id, 1, ["FAILED", "SUCCEEDED"]);
    const task = failed.tasks.find((x: any) => x.step === "PURGE");
    expect([task.status, accountOf(1)], "the purge failed after deleting the account").to.deep.equal(["FAILED", undefined]);
    expect(failed.residualRecords, "still named residual while the purge has not ended").to.have.length(1);
    standIn.onCall = undefined;
    await t.ok(`mutation($id: ID!) { retryTask(id: $id) { id } }`, { id: task.id });
    const after = await purged(deletion.id);
    expect(after.residualRecords).to.deep.equal([]);
    expect(after.erasedResidue.map((r: any) => [r.recordType, r.records])).to.deep.equal([["account", 1]]);
    expect(after.auditEvents.filter((e: any) => e.action === "residue.erased").map((e: any) => e.details.records)).to.deep.equal([1]);
    expect(deletes(), "one DELETE of the account").to.equal(1);
  });
});

describeEachDatabase("residue held back by kept records, when the purge's DELETE of it loses its answer", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;

  it("counts the account erased when the purge's DELETE of it went through and answered 503, and its retry finds it gone", async function () {
    this.timeout(90_000);
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA.email, categories: ["SUPPORT"], reason: "litigation", caseReference: "C-7" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // The account's DELETE deletes it, and a proxy answers 503 (the answer lost); the purge is retried.
    let armed = false;
    standIn.afterAnswer = (call) => {
      if (armed || call.method !== "DELETE" || !call.path.startsWith("/api/notes/") || standIn.notes.some((n) => n.user === 1)) return;
      armed = true;
      standIn.faults.push({ status: 503, method: "DELETE", through: "answer" });
    };
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await t.waitFor(
      async () => {
        const x = await show(deletion.id);
        const task = x.tasks.find((y: any) => y.step === "PURGE");
        // Time passes on the service clock, so the purge's retry comes due.
        t.clock.advance(1000);
        return task && ["SUCCEEDED", "FAILED"].includes(task.status) ? x : undefined;
      },
      "purge ended",
      30_000,
    );
    expect(standIn.users.find((u) => u.id === 1), "the account is gone from the system").to.equal(undefined);
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/users/1").map((c) => c.status)[0]).to.equal(503);
    expect(after.tasks.find((y: any) => y.step === "PURGE").status).to.equal("SUCCEEDED");
    expect(after.residualRecords).to.deep.equal([]);
    expect(after.erasedResidue.map((r: any) => [r.recordType, r.records])).to.deep.equal([["account", 1]]);
  });
});
