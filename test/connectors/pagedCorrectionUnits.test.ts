import { expect } from "chai";
import { Role } from "../../src/domain/enums";
import { describeEachOf } from "../support/databases";
import { approved } from "../support/harness";
import { forumProfiles } from "./support/accountDb";
import { endOf, PLACE, runningLike, slowForumSuite, slowTrigger } from "./support/slowWrites";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status attempts lastError outcome { changed notHeld keptByHold holdCases } } } }`;
/** Ada's profiles: twelve rows, corrected two to a page (chunkSize 2). */
const IDS = Array.from({ length: 12 }, (_, i) => `p-${String(i).padStart(2, "0")}`);
/** What an UPDATE of one profile costs (a trigger sleeps): a page of two takes 0.8 s, under a unit (2 s lease, less its reserve), four pages well over one. */
const ROW_S = 0.4;

/**
 * A correction's writes are bounded by a unit of the hold fence (a hold placement waits for it). Its
 * unit used to be one for the whole call, its time fixed when the call started: a subject with more
 * pages than one unit can write had the first page committed, the next one cut (rolled back), every
 * retry doing the same, until the request FAILED with Ada's profiles half-corrected. Each page is now
 * written in a unit of its own, and a hold placed between pages stops the rest.
 */
describeEachOf(["mariadb", "postgres"], "a correction whose pages cannot all be written in one unit", (db) => {
  const suite = slowForumSuite(db, (query) => forumProfiles(db(), query, IDS, { idLength: 20, ddl: slowTrigger(suite.kind(), "UPDATE", ROW_S), rectifiableBio: true, chunkSize: 2 }));
  const { query } = suite;
  const bios = async () => (await query(`SELECT id, bio FROM profiles ORDER BY id`)).map((r: any) => `${r.id}=${r.bio}`);
  const updating = async () => Number((await query(runningLike(suite.kind(), "%UPDATE%profiles%SET%bio%", ROW_S)))[0].n);

  it("corrects every row of the subject, each page in a unit of its own, and reports it", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "bio", value: "corrected" }] });
    const ended = await endOf(t, SHOW, id);
    await t.waitFor(async () => ((await updating()) === 0 ? true : undefined), "no UPDATE running", 60_000);
    // The database itself: every one of Ada's rows corrected, Grace's as it was (it used to read 2 of 12 corrected, the request FAILED).
    expect(await bios()).to.deep.equal(["grace-1=Grace", ...IDS.map((p) => `${p}=corrected`)]);
    const rectify = ended.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.outcome, rectify.lastError).to.deep.equal({ changed: ["bio"], notHeld: [], keptByHold: null, holdCases: null });
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
  });

  it("stops at a hold placed between its pages, and reports the field kept by it as well as corrected where it was", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "bio", value: "corrected" }] });
    await t.waitFor(async () => ((await bios()).some((b) => b.endsWith("=corrected")) ? true : undefined), "a page corrected", 60_000);
    await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-22" } }, Role.PRIVACY_OFFICER);
    const atPlacement = await bios();
    const ended = await endOf(t, SHOW, id);
    await t.waitFor(async () => ((await updating()) === 0 ? true : undefined), "no UPDATE running", 60_000);
    // Nothing written after the hold was answered; some rows corrected before it, some not.
    expect(await bios(), "profiles after the correction ended").to.deep.equal(atPlacement);
    const corrected = atPlacement.filter((b) => b.endsWith("=corrected")).length;
    expect(corrected).to.be.within(1, IDS.length - 1);
    const rectify = ended.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.outcome, rectify.lastError).to.deep.equal({ changed: ["bio"], notHeld: [], keptByHold: ["bio"], holdCases: ["K-22"] });
    expect(ended.statusReason).to.match(/Corrected: bio/).and.to.match(/K-22/).and.to.match(/Corrected in part before the hold was placed .*: forum-db \(bio\)/);
  });
});

describeEachOf(["mariadb"], "a correction whose one page cannot be written in one unit", (db) => {
  // Four rows on one page (the default page size): 2 s of UPDATE, over a unit; two rows, 1 s, fit in one.
  const suite = slowForumSuite(db, (query) => forumProfiles(db(), query, IDS.slice(0, 4), { idLength: 20, ddl: slowTrigger(suite.kind(), "UPDATE", 0.5), rectifiableBio: true }));
  const { query } = suite;

  it("writes the page in halves, each in a unit of its own, and corrects every row", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "bio", value: "corrected" }] });
    const ended = await endOf(t, SHOW, id);
    const rows = (await query(`SELECT id, bio FROM profiles ORDER BY id`)).map((r: any) => `${r.id}=${r.bio}`);
    expect(rows).to.deep.equal(["grace-1=Grace", ...IDS.slice(0, 4).map((p) => `${p}=corrected`)]);
    const rectify = ended.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.outcome, rectify.lastError).to.deep.equal({ changed: ["bio"], notHeld: [], keptByHold: null, holdCases: null });
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
  });
});

describeEachOf(["mariadb"], "a correction one row of which cannot be written in a unit", (db) => {
  // p-3's UPDATE sleeps 3 s (over a unit), every other row's is quick.
  const ddl = [`CREATE TRIGGER profiles_slow_p3 BEFORE UPDATE ON profiles FOR EACH ROW BEGIN IF NEW.id = 'p-3' THEN DO SLEEP(3); END IF; END`];
  const suite = slowForumSuite(db, (query) => forumProfiles(db(), query, ["p-0", "p-1", "p-2", "p-3"], { idLength: 20, ddl, rectifiableBio: true, chunkSize: 2 }));
  const { query } = suite;

  it("FAILS saying how many of the person's rows it corrected, which the database holds", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "bio", value: "corrected" }] });
    const ended = await endOf(t, SHOW, id);
    await t.waitFor(async () => (Number((await query(runningLike("mariadb", "%UPDATE%profiles%SET%bio%", 3)))[0].n) === 0 ? true : undefined), "no UPDATE running", 60_000);
    const rows = (await query(`SELECT id, bio FROM profiles ORDER BY id`)).map((r: any) => `${r.id}=${r.bio}`);
    expect(rows).to.deep.equal(["grace-1=Grace", "p-0=corrected", "p-1=corrected", "p-2=corrected", "p-3=bio 3"]);
    expect(ended.status).to.equal("FAILED");
    // It used to say only that "the statement cut changed nothing", with 2 of the rows corrected.
    expect(ended.statusReason).to.include("3 of the person's rows of profiles hold the corrected values");
  });
});

