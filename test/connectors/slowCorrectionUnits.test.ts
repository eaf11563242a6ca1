import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachOf } from "../support/databases";
import { approved } from "../support/harness";
import { forumProfiles } from "./support/accountDb";
import { endOf, PLACE, runningLike, slowForumSuite, slowTrigger } from "./support/slowWrites";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status attempts lastError outcome { changed notHeld keptByHold holdCases } } } }`;
/** What an UPDATE of one profile costs in the database (a trigger sleeps): past the 2 s lease. */
const ROW_S = 3;

/**
 * A correction is a write a hold placement waits for (one unit of the hold fence over the connector's
 * categories). Its UPDATE used to run unbounded: one that outlived the unit (here 3 s against a 2 s
 * lease) let a hold placed meanwhile be answered "placed" when the unit expired, and then rewrote the
 * held row, while the request reported it kept by the hold. Its writes are now bounded by the unit's
 * time as an erasure's are: the late statement is cut (rolled back), the attempt fails retryably, and
 * the retry finds the hold and keeps the row.
 */
describeEachOf(["mariadb", "postgres"], "a correction on a database slow to update", (db) => {
  const suite = slowForumSuite(db, (query) => forumProfiles(db(), query, ["p-0"], { idLength: 20, ddl: slowTrigger(suite.kind(), "UPDATE", ROW_S), rectifiableBio: true }));
  const { query } = suite;
  const updating = async () => Number((await query(runningLike(suite.kind(), "%UPDATE%profiles%SET%bio%", ROW_S)))[0].n);

  it("changes nothing a hold placed while its UPDATE runs keeps: the statement ends before its unit", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const bio = async () => (await query(`SELECT bio FROM profiles WHERE id = 'p-0'`))[0].bio;
    const before = await bio();
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "bio", value: "corrected" }] });
    await t.waitFor(async () => ((await updating()) > 0 ? true : undefined), "the UPDATE running", 60_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-21" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await bio();
    const ended = await endOf(t, SHOW, id);
    // Every UPDATE of the correction's attempts has ended in the database (committed or cut).
    await t.waitFor(async () => ((await updating()) === 0 ? true : undefined), "no UPDATE running", 60_000);
    // The database itself: the held row as it was when the hold was answered (it used to read "corrected").
    expect(atPlacement, "Ada's bio when the hold was answered").to.equal(before);
    expect(await bio(), "Ada's bio after the correction ended").to.equal(atPlacement);
    const rectify = ended.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.outcome).to.deep.equal({ changed: [], notHeld: [], keptByHold: ["bio"], holdCases: ["K-21"] });
    expect(rectify.attempts, "the cut attempt, then the one that found the hold").to.equal(2);
    expect(ended.status, ended.statusReason).to.equal("FAILED");
  });
});
