import { expect } from "chai";
import { ACCOUNT_HOLDS_KEPT_RECORDS, ACCOUNT_NOT_ERASABLE } from "../../src/connectors/http/httpConnector";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { archiveTexts, download, exportLink } from "../export/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionPlan { connector category found toErase toKeep toLeaveResidual residualReason }
  deletionOutcome { connector category plannedToErase erased plannedToKeep kept plannedToLeaveResidual residual matchesPlan differences { kind records } }
  residualRecords { connector recordType records fields reason } retentionExceptions { connector recordType recordCount } } }`;
const ACCOUNT_FIELDS = ["email", "name", "phone"];

/**
 * The account the HTTP connector's subject search finds holds the person's address, name and phone.
 * It used to be neither exported nor erased: a deletion COMPLETED with the account in the system and
 * nothing in the report saying so (and the settings page told "0 residual records"). Asked of the
 * API itself: the account is exported, deleted last once nothing under it is left, and otherwise left
 * in place with the request saying so, in the plan where that can be foreseen.
 */
describeEachDatabase("the subject's account in an HTTP system", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const serviceOver = hooks.serviceOver;
  const adaHeld = () => standIn.users.some((u) => u.id === 1);
  const lineOf = (request: any, category: string) => request.deletionOutcome.find((l: any) => l.connector === "helpdesk" && l.category === category);

  it("hands the account over in an access export, and deletes it last in a deletion, Grace's untouched", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    t = await serviceOver(restConfig(standIn));
    const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const { data } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
    // As the API holds them: the address in its own case, the phone as typed.
    for (const value of ["Ada.Lovelace@example.com", "+44 20 7946 0958"]) expect(data, value).to.include(value);

    const grace = JSON.stringify(standIn.users.find((u) => u.id === 2));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(adaHeld(), "Ada's account in the API").to.equal(false);
    expect(JSON.stringify(standIn.users.find((u) => u.id === 2))).to.equal(grace);
    expect(lineOf(deletion, "ACCOUNT")).to.include({ plannedToErase: 1, erased: 1, residual: 0, matchesPlan: true });
    // After every record under it: the DELETE of the account is the last write.
    const writes = standIn.calls.filter((c) => c.method !== "GET");
    expect(writes[writes.length - 1]).to.include({ method: "DELETE", path: "/api/users/1", status: 204 });
    expect(deletion.residualRecords).to.deep.equal([]);
  });

  it("leaves the account while invoices under it are kept by the tax rule, and names it residual with why", async function () {
    this.timeout(60_000);
    dateAda(standIn, "recent");
    t = await serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // The API's own data: her notes are gone, her invoices kept whole, her account still there.
    expect(standIn.notes.filter((n) => n.user === 1)).to.deep.equal([]);
    expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name === "Ada Lovelace")).to.have.length(3);
    expect(adaHeld(), "Ada's account in the API").to.equal(true);
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/users/"))).to.deep.equal([]);
    expect(lineOf(deletion, "ACCOUNT")).to.deep.include({ plannedToErase: 1, erased: 0, residual: 1, matchesPlan: false, differences: [{ kind: "RESIDUAL", records: 1 }] });
    expect(lineOf(deletion, "PAYMENTS")).to.include({ plannedToKeep: 3, kept: 3, matchesPlan: true });
    expect(deletion.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_HOLDS_KEPT_RECORDS }]);
  });

  it("keeps the account while a legal hold keeps her notes, and says so", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    t = await serviceOver(restConfig(standIn));
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA.email}", reason: "litigation", caseReference: "C-7", categories: ["SUPPORT"] }) { id } }`);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
    expect(adaHeld(), "Ada's account in the API").to.equal(true);
    expect(deletion.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_HOLDS_KEPT_RECORDS }]);
  });

  it("plans the account as left in place when the configuration gives no way to delete it, and the outcome matches", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    delete config.subject.account!.erase;
    t = await serviceOver(config);
    const preview = (await t.ok(`mutation($s: SubjectInput!) { previewDeletion(input: { subject: $s }) { lines { connector category found toErase toLeaveResidual residualReason } } }`, { s: { email: ADA.email } })).previewDeletion;
    expect(preview.lines.find((l: any) => l.category === "ACCOUNT")).to.deep.equal({ connector: "helpdesk", category: "ACCOUNT", found: 1, toErase: 0, toLeaveResidual: 1, residualReason: ACCOUNT_NOT_ERASABLE });
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(adaHeld(), "Ada's account in the API").to.equal(true);
    expect(standIn.notes.filter((n) => n.user === 1)).to.deep.equal([]);
    expect(lineOf(deletion, "ACCOUNT")).to.deep.include({ plannedToErase: 0, plannedToLeaveResidual: 1, erased: 0, residual: 1, matchesPlan: true, differences: [] });
    expect(deletion.residualRecords).to.deep.equal([{ connector: "helpdesk", recordType: "account", records: 1, fields: ACCOUNT_FIELDS, reason: ACCOUNT_NOT_ERASABLE }]);
  });
});
