import { expect } from "chai";
import { SubjectRecord } from "../../src/connectors/sdk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, FAST, finishedRequest, ticketingConnector } from "./support";

/** A CRM's note about the person, filed under `category`. */
const crmNote = (category: string): SubjectRecord[] => [{ category, type: "note", id: "n-1", data: { text: "called about a refund" } }];
const SHOW = `query($id: ID!) { request(id: $id) { status tasks { connector step status attempts lastError } } }`;

/**
 * The export names a category's files by its lower-case form: "Support" and "SUPPORT" both wrote
 * data/support.json, two entries of one name, of which unzip keeps the last (the other system's records lost).
 */
describeEachDatabase("export file names of categories", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it("refuses to start with a connector whose category is not an upper-case name, which would share another's file", async () => {
    const crm = new ScriptedConnector({ name: "crm", categories: ["Support"], supports: ["access"] });
    crm.data.set(ADA_EMAIL, crmNote("Support"));
    let refused: Error | undefined;
    try {
      t = await new TestService(db(), FAST, [crm, ticketingConnector()]).start();
    } catch (error) {
      refused = error as Error;
    }
    expect(refused?.message).to.match(/crm: category "Support" must be upper-case letters, digits and _/);
  });

  it("refuses to start with a category whose files Windows cannot create (data/aux.json: AUX is a device name there)", async () => {
    const crm = new ScriptedConnector({ name: "crm", categories: ["AUX"], supports: ["access"] });
    let refused: Error | undefined;
    try {
      t = await new TestService(db(), FAST, [crm]).start();
    } catch (error) {
      refused = error as Error;
    }
    expect(refused?.message).to.match(/crm: category "AUX" would name export files Windows cannot create/);
  });

  it("fails the COLLECT that returns a record of a category its connector does not declare, rather than export it under a shared file name", async function () {
    this.timeout(60_000);
    const crm = new ScriptedConnector({ name: "crm", categories: ["ACCOUNT"], supports: ["access"] });
    crm.data.set(ADA_EMAIL, crmNote("support"));
    t = await new TestService(db(), FAST, [crm, ticketingConnector()]).start();
    const done = await finishedRequest(t, "ACCESS", ADA_EMAIL, SHOW);
    expect(done.status).to.equal("FAILED");
    const collect = done.tasks.find((x: any) => x.connector === "crm" && x.step === "COLLECT");
    expect(collect).to.deep.include({ status: "FAILED", attempts: 1 });
    expect(collect.lastError).to.match(/crm returned a record of category "support", which it does not declare/);
    const link = await t.gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id: done.id });
    expect(link.errors![0].extensions.code).to.equal("CONFLICT");
  });
});
