import { expect } from "chai";
import { ACCOUNT_RECORDS_REMAIN, RECORD_NOT_ERASABLE } from "../../src/connectors/http/httpConnector";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { TEST_START } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionPlan { connector category found toErase toKeep toLeaveResidual residualReason }
  deletionOutcome { connector category plannedToErase erased plannedToKeep kept plannedToLeaveResidual residual matchesPlan }
  residualRecords { connector recordType records fields reason } retentionExceptions { connector recordType recordCount } } }`;

/**
 * A resource without `erase` is access only: the connector never erases its records. A deletion used
 * to plan them erased (toErase), leave them, and fail the check after erasing on every attempt: the
 * plan the privacy team approved said they would go, and no deletion of anyone holding such a record
 * could ever complete. Asked of the API itself: they are planned and reported residual, with why, and
 * so is the account they hold in place.
 */
describeEachDatabase("an HTTP resource without erase (access only) in a deletion", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const line = (lines: any[], category: string) => lines.find((l: any) => l.connector === "helpdesk" && l.category === category);

  it("plans her notes and her account as left in place, erases the rest, and completes naming them residual", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    delete config.resources[0].erase;
    t = await hooks.serviceOver(config);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    // The API's own data: her five notes and her account still there, her invoices anonymised.
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
    expect(standIn.users.some((u) => u.id === 1), "Ada's account").to.equal(true);
    expect(standIn.invoices.filter((i) => i.user === 1).map((i) => i.billing_name)).to.deep.equal([null, null, null]);
    expect(line(deletion.deletionPlan, "SUPPORT")).to.include({ found: 5, toErase: 0, toLeaveResidual: 5, residualReason: RECORD_NOT_ERASABLE });
    expect(line(deletion.deletionPlan, "ACCOUNT")).to.include({ found: 1, toErase: 0, toLeaveResidual: 1, residualReason: ACCOUNT_RECORDS_REMAIN });
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(line(deletion.deletionOutcome, "SUPPORT")).to.include({ erased: 0, residual: 5, matchesPlan: true });
    expect(line(deletion.deletionOutcome, "ACCOUNT")).to.include({ erased: 0, residual: 1, matchesPlan: true });
    expect(line(deletion.deletionOutcome, "PAYMENTS")).to.include({ erased: 3, matchesPlan: true });
    expect(deletion.residualRecords).to.have.deep.members([
      { connector: "helpdesk", recordType: "note", records: 5, fields: ["text", "created_at"], reason: RECORD_NOT_ERASABLE },
      { connector: "helpdesk", recordType: "account", records: 1, fields: ["email", "name", "phone"], reason: ACCOUNT_RECORDS_REMAIN },
    ]);
  });

  it("keeps an access-only note the rule keeps, and names only the older ones residual", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    // n-a5 within SUPPORT's five years: kept by the rule, as it would be were it erasable.
    standIn.notes.find((n) => n.id === "n-a5")!.created_at = new Date(TEST_START.getTime() - 30 * 86_400_000).toISOString();
    const config = restConfig(standIn);
    delete config.resources[0].erase;
    t = await hooks.serviceOver(config);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
    expect(line(deletion.deletionPlan, "SUPPORT")).to.include({ found: 5, toErase: 0, toKeep: 1, toLeaveResidual: 4 });
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(line(deletion.deletionOutcome, "SUPPORT")).to.include({ erased: 0, kept: 1, residual: 4, matchesPlan: true });
    expect(deletion.retentionExceptions.filter((e: any) => e.recordType === "note")).to.deep.equal([{ connector: "helpdesk", recordType: "note", recordCount: 1 }]);
  });
});
