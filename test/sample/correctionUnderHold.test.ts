import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { approved } from "../support/harness";
import { accountsFile, queryIn, sampleSetup } from "../identity/support";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status outcome { changed notHeld keptByHold holdCases } } } }`;
const hold = (email: string, categories: string[], caseReference: string) =>
  `mutation { placeLegalHold(input: { subjectEmail: "${email}", categories: [${categories.map((c) => `"${c}"`).join(", ")}], reason: "Fraud investigation", caseReference: "${caseReference}" }) { id } }`;

/**
 * A legal hold preserves evidence: what a system holds of the person in a held category stays as it
 * was until the hold is released. A correction is a write like an erasure: it must not alter held data,
 * and the request must say which system kept which fields, under which hold.
 */
describeEachDatabase("a correction of a person under a legal hold", (db) => {
  const setup = sampleSetup(db, SHOW, 5);
  const userRow = async (email: string) => (await queryIn(accountsFile(setup.dir), `SELECT name, job_title FROM users WHERE email = ?`, [email]))[0];

  it("leaves the held account data as it was, and the request names the system, the fields and the hold", async () => {
    const t = setup.t;
    await t.ok(hold(ADA, ["ACCOUNT"], "FR-7"));
    const before = await userRow(ADA);
    const done = await setup.finished(await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "name", value: "Augusta Ada King" }, { field: "jobTitle", value: "Countess" }] }));
    // Before: COMPLETED, "Corrected: jobTitle, name", and the held row rewritten.
    expect(await userRow(ADA), "Ada's account row, as the account database holds it").to.deep.equal(before);
    const rectify = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RECTIFY");
    expect(rectify.outcome).to.deep.equal({ changed: [], notHeld: [], keptByHold: ["jobTitle", "name"], holdCases: ["FR-7"] });
    // Nothing was corrected anywhere: COMPLETED would say it was.
    expect(done.status).to.equal("FAILED");
    expect(done.statusReason).to.match(
      /^Nothing was corrected: a legal hold keeps the data that holds these fields\. Kept as they were under legal hold: account-db \(jobTitle, name; hold FR-7 on ACCOUNT\), until the hold is released\. Not corrected in /,
    );
  });

  it("corrects a system none of whose categories a hold keeps (a hold on payments leaves the account database to correct)", async () => {
    const t = setup.t;
    await t.ok(hold(GRACE, ["PAYMENTS"], "CB-9"));
    const done = await setup.finished(await approved(t, { type: "CORRECTION", subject: { email: GRACE }, corrections: [{ field: "name", value: "Grace Brewster Hopper" }] }));
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect((await userRow(GRACE)).name).to.equal("Grace Brewster Hopper");
    const rectify = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RECTIFY");
    expect(rectify.outcome).to.deep.equal({ changed: ["name"], notHeld: [], keptByHold: null, holdCases: null });
  });
});
