import { expect } from "chai";
import { createMariadbDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason closedAt retentionExceptions { connector category recordCount status } } }`;
const LINE = `connector category found toErase toKeep keptBy retainUntil`;
const PREVIEW = `mutation($input: PreviewDeletionInput!) { previewDeletion(input: $input) { lines { ${LINE} } notSurveyed { connector reason }
  earlierDeletions { requestId status closedAt kept { connector category recordType recordCount status retainUntil } lines { ${LINE} } notSurveyed { connector reason } } } }`;

/**
 * A deletion preview for a person a deletion has already run for. The account is gone, so the preview's
 * own look-up (by the address) leads nowhere, while the account database still holds her invoices, kept
 * by the 7-year rule under the payment customer id the deletion's RESOLVE found (a billing mirror needs
 * it, so the deletion looked it up and keeps it while the exception is open). Before, the preview
 * answered no line holding anything: a privacy officer asking what is still held was told nothing.
 */
describeEachDatabase("a deletion preview after a deletion of the person ran", (db) => {
  let service: AccountDbService | undefined;
  let accountDb: TestDatabase | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await accountDb?.drop();
    accountDb = undefined;
  });

  const start = async () => {
    accountDb = db().kind === "mariadb" ? await createMariadbDatabase() : undefined;
    const mirror = new ScriptedConnector({ name: "billing-mirror", needs: ["paymentCustomerId"], supports: ["access", "erasure"], categories: ["PAYMENTS"] });
    service = await accountDbService(db(), undefined, accountDb, undefined, {}, [mirror]);
    return service;
  };

  it("names the earlier deletion, what it kept and what the systems hold of it now, as the database holds it", async () => {
    const { t, account, run } = await start();
    const deletion = await run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // The database's own rows: the account is gone, her three invoices are kept whole.
    expect(await account.count("users", "email = ?", [ADA.email])).to.equal(0);
    const invoices = await account.count("invoices", "customer_ref = ? AND billing_name IS NOT NULL", [ADA.paymentCustomerId]);
    expect(invoices).to.equal(3);

    const { previewDeletion } = await t.ok(PREVIEW, { input: { subject: { email: ADA.email } } });
    // What a deletion now would find from her address: nothing held (as a new deletion's plan would say).
    expect(previewDeletion.lines.filter((l: any) => l.found > 0)).to.deep.equal([]);
    expect(previewDeletion.earlierDeletions).to.have.length(1);
    const [earlier] = previewDeletion.earlierDeletions;
    expect(earlier).to.deep.include({ requestId: deletion.id, status: "COMPLETED", closedAt: deletion.closedAt, notSurveyed: [] });
    // What it recorded as kept, and what the database answers now when asked with its identities: the same 3 invoices.
    expect(earlier.kept.map((k: any) => [k.connector, k.category, k.recordType, k.recordCount, k.status])).to.deep.equal([["account-db", "PAYMENTS", "invoice", invoices, "OPEN"]]);
    expect(earlier.lines).to.have.length(1);
    expect(earlier.lines[0]).to.deep.include({ connector: "account-db", category: "PAYMENTS", found: invoices, toKeep: invoices, toErase: 0, keptBy: "RULE" });
    // Kept 7 years from the newest invoice (2025-01-15).
    expect(earlier.lines[0].retainUntil).to.match(/^2032-01-15/);
    expect(earlier.kept[0].retainUntil).to.equal(earlier.lines[0].retainUntil);
  });

  it("does not count twice what an earlier deletion kept that the person's current identities reach (a hold kept the account)", async () => {
    const { t, account, run } = await start();
    await t.ok(`mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`, { input: { subjectEmail: ADA.email, categories: ["ACCOUNT"], caseReference: "FR-7", reason: "fraud review" } });
    const deletion = await run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // The database's own rows: the held account (and its 2 MFA factors) and the 3 invoices are there.
    expect(await account.count("users", "email = ?", [ADA.email])).to.equal(1);
    expect(await account.count("invoices", "customer_ref = ? AND billing_name IS NOT NULL", [ADA.paymentCustomerId])).to.equal(3);
    const { previewDeletion } = await t.ok(PREVIEW, { input: { subject: { email: ADA.email } } });
    const found = (lines: any[]) => lines.filter((l) => l.found > 0).map((l) => [l.connector, l.category, l.found, l.toKeep, l.keptBy]);
    expect(found(previewDeletion.lines)).to.deep.equal([
      ["account-db", "ACCOUNT", 3, 3, "HOLD"],
      ["account-db", "PAYMENTS", 3, 3, "RULE"],
    ]);
    const [earlier] = previewDeletion.earlierDeletions;
    expect(earlier.kept.map((k: any) => [k.category, k.recordCount]).sort()).to.deep.equal([["ACCOUNT", 3], ["PAYMENTS", 3]]);
    // Surveyed again with the same identities, they would be counted twice: said instead.
    expect(earlier.lines).to.deep.equal([]);
    expect(earlier.notSurveyed).to.deep.equal([{ connector: "account-db", reason: "the person's current identities are the ones it kept: the preview's own lines count what it kept here" }]);
  });

  it("names no earlier deletion for a person none was run for, and counts her invoices in its own lines", async () => {
    const { t } = await start();
    const { previewDeletion } = await t.ok(PREVIEW, { input: { subject: { email: ADA.email } } });
    expect(previewDeletion.earlierDeletions).to.deep.equal([]);
    expect(previewDeletion.lines.find((l: any) => l.connector === "account-db" && l.category === "PAYMENTS")).to.deep.include({ found: 3, toKeep: 3 });
  });
});
