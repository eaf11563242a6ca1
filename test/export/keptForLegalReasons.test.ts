import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { archiveTexts, downloadedExport } from "./support";

const HOLDER = "account.holder@example.com";
const CASE = "CASE-4411";
const REASON = "Regulator inquiry into the account holder";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };

/**
 * An access request's export states what the person's earlier deletions keep. The archive is handed to
 * the person: a set a legal hold keeps is "kept for legal reasons", with its true count, and never the
 * hold's case reference or reason (telling a person of a litigation or investigation hold can tip them
 * off), as the settings page is told (docs/settings-trigger.md).
 */
describeEachDatabase("what the person's export says of a legal hold", (db) => {
  let t: TestService;
  let crm: ScriptedConnector;
  before(async () => {
    crm = new ScriptedConnector({ name: "crm", categories: ["ACCOUNT"] }).seed(HOLDER, 2);
    t = await new TestService(db(), FAST, [crm, new ScriptedConnector({ name: "newsletter", categories: ["MARKETING"] }).seed(HOLDER, 3)]).start();
  });
  after(async () => {
    await t?.stop();
  });

  const run = async (type: string): Promise<string> => {
    const { submitRequest } = await t.ok(`mutation($email: String!, $type: RequestType!) { submitRequest(input: { type: $type, subject: { email: $email }, identityVerified: true, verificationEvidence: "desk check" }) { id } }`, { email: HOLDER, type });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: submitRequest.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: submitRequest.id })).request.status === "COMPLETED" ? true : undefined), `${type} COMPLETED`, 30_000);
    return submitRequest.id;
  };

  it("names the set a hold keeps as kept for legal reasons, with its true count, and never the hold's case or reason", async () => {
    const { placeLegalHold } = await t.ok(`mutation($email: String!, $case: String!, $reason: String!) { placeLegalHold(input: { subjectEmail: $email, categories: ["ACCOUNT"], reason: $reason, caseReference: $case }) { id } }`, { email: HOLDER, case: CASE, reason: REASON }, Role.ADMIN);
    const deletion = await run("DELETION");
    // The systems: the hold kept the account's 2 records, the newsletter's 3 went.
    expect(crm.data.get(HOLDER) ?? [], "crm keeps the held records").to.have.length(2);
    // The privacy team still reads the hold on the exception.
    const { request } = await t.ok(`query($id: ID!) { request(id: $id) { retentionExceptions { recordCount legalBasis holdId } } }`, { id: deletion });
    expect(request.retentionExceptions).to.deep.equal([{ recordCount: 2, legalBasis: `legal hold ${CASE}`, holdId: placeLegalHold.id }]);

    const access = await run("ACCESS");
    const { file } = await downloadedExport(t, access);
    const { manifest, data, html, readme } = await archiveTexts(file);
    expect(manifest.retentionExceptions.map((e) => ({ connector: e.connector, records: e.records, legalBasis: e.legalBasis, retainUntil: e.retainUntil }))).to.deep.equal([
      { connector: "crm", records: crm.data.get(HOLDER)!.length, legalBasis: "kept for legal reasons", retainUntil: null },
    ]);
    const everything = JSON.stringify(manifest) + data + html + readme;
    for (const trace of [CASE, REASON, placeLegalHold.id, "legal hold", "Legal hold"]) expect(everything, `the archive names "${trace}"`).not.to.include(trace);
    expect(html).to.include("kept for legal reasons, for as long as legal reasons require");
  });
});
