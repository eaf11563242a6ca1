import { expect } from "chai";
import { ConnectorError, FieldChange, Identities, TaskContext } from "../../src/connectors/sdk";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { describeEachOf } from "../support/databases";
import { approved } from "../support/harness";
import { endOf, slowForumSuite } from "./support/slowWrites";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status attempts lastError outcome { changed notHeld } } } }`;

/** The forum database answering its first rectify with a 503 before anything was written (a transient fault). */
function failsFirst(inner: SqlConnector): SqlConnector {
  return {
    ...inner,
    async rectify(ids: Identities, changes: readonly FieldChange[], ctx: TaskContext) {
      if (ctx.attempt === 1) throw new ConnectorError("forum-db answered 503", "503 before any write", true, 10);
      return inner.rectify(ids, changes, ctx);
    },
  };
}

/**
 * A retried correction of the address people are found by that finds no row by the old address counts
 * the rows the new address finds as what an earlier attempt wrote (correctedBefore). When no earlier
 * attempt wrote any, those rows are another person's: Ada, who has no profile here, was reported as
 * corrected in the forum because Grace's profile holds the address Ada asked for, and her request
 * COMPLETED though no system holds anything of hers.
 */
describeEachOf(["sqlite", "mariadb"], "a retried correction of the address in a system that holds nothing of the person", (db) => {
  const suite = slowForumSuite(db, async (query) => {
    await query(`DROP TABLE IF EXISTS profiles`);
    await query(`CREATE TABLE profiles (id VARCHAR(20) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, bio VARCHAR(200))`);
    await query(`INSERT INTO profiles (id, email, bio) VALUES ('grace-1', '${GRACE}', 'Grace')`);
    const inner = createSqlConnector(
      {
        name: "forum-db",
        version: "1.0.0",
        tables: [{ table: "profiles", identityColumn: "email", identityKind: "email", category: "COMMUNITY", recordType: "profile", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
        rectifiable: { email: { table: "profiles", column: "email" } },
      },
      { url: db().url, timeoutMs: 10_000 },
    );
    return Object.assign(failsFirst(inner), { close: () => inner.close() }) as SqlConnector;
  });

  it("reports the address not held there, and changes nobody's row", async function () {
    this.timeout(120_000);
    const t = await suite.service(true);
    const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "email", value: GRACE }] });
    const ended = await endOf(t, SHOW, id);
    expect((await suite.query(`SELECT id, email, bio FROM profiles`)).map((r) => `${r.id}=${r.email}=${r.bio}`)).to.deep.equal([`grace-1=${GRACE}=Grace`]);
    const rectify = ended.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.attempts).to.equal(2);
    // It used to read { changed: ["email"] }, and the request COMPLETED.
    expect(rectify.outcome, rectify.lastError).to.deep.equal({ changed: [], notHeld: ["email"] });
    expect(ended.status, ended.statusReason).to.equal("FAILED");
  });
});
