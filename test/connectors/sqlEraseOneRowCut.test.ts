import { expect } from "chai";
import { ConnectorError } from "../../src/connectors/sdk";
import type { SqlConnector } from "../../src/connectors/sql";
import { testContext } from "../../src/connectors/testing/conformance";
import { describeEachOf } from "../support/databases";
import { forumProfiles, sqlSuiteHooks } from "./support/accountDb";
import { ServerKind, slowTrigger } from "./support/slowWrites";

const ADA = { email: "ada.lovelace@example.com" };
/** Each unit of erasure may last this long; one row's DELETE takes longer (the trigger sleeps 1 s). */
const UNIT_MS = 300;

/**
 * A unit whose statement is cut erased nothing, and its chunk is tried again in halves. A chunk of one
 * row used to be "halved" from the chunk size (500, 250, ... 1): the one row was tried ten times, a
 * unit each, before the erasure failed. Now it fails at its first cut, retryably, erasing nothing.
 */
describeEachOf(["mariadb", "postgres"], "SQL erase: a one-row chunk cut at its unit's end", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles"]);
  let connector: SqlConnector;

  beforeEach(async () => {
    connector = await forumProfiles(db(), suite.query, ["ada-1"], { idLength: 20, ddl: slowTrigger(db().kind as ServerKind, "DELETE", 1) });
  });
  afterEach(async () => {
    await connector.close();
  });

  it("fails at the first cut, retryably, having tried the row once and erased nothing", async function () {
    this.timeout(30_000);
    let units = 0;
    let deadline = 0;
    const ctx = testContext({
      eraseUnit: async (_category, work) => {
        units += 1;
        deadline = Date.now() + UNIT_MS;
        await work();
        return true;
      },
      unitTimeLeft: () => deadline - Date.now(),
    });
    const started = Date.now();
    const error = await connector.erase(ADA, { categories: ["COMMUNITY"] }, ctx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ConnectorError);
    expect((error as ConnectorError).retryable).to.equal(true);
    expect((error as ConnectorError).userMessage).to.match(/^Erasing one row of profiles took longer than a unit of erasure may last/);
    // Before: 10 units (the chunk size 500 halved nine times to 1), some 3 s of the task's time.
    expect(units, "units run for the one row").to.equal(1);
    expect(ctx.lines.filter((l) => /trying smaller chunks/.test(l.msg)).length).to.equal(0);
    expect(Date.now() - started).to.be.below(2_000);
    // The database itself: Ada's row and Grace's are both there.
    expect((await suite.query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id))).to.deep.equal(["ada-1", "grace-1"]);
  });
});
