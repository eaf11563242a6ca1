import { expect } from "chai";
import { createAuthLogConnector } from "../../src/connectors/authLog";
import { KEY_COLUMN } from "../../src/connectors/authLog/sqlStore";
import { testContext } from "../../src/connectors/testing/conformance";
import { createSampleAuthLogTable, insertAuthEvents } from "../../src/sample/authLog";
import { describeEachDatabase } from "../support/databases";
import { ADA, ADA_EVENTS, openTestDataSource } from "./support/authLogFixtures";

/**
 * Events that leave the table while the erasure runs, by another hand (the platform's own expiry job
 * deleting old events): the erasure counts only the rows its own deletes removed, so a request never
 * claims to have erased what someone else did (the counting rule: erased is what this call erased).
 */
describeEachDatabase("auth-log erasure while another job deletes some of the subject's events (SQL)", (db) => {
  it("counts as erased only the rows its own deletes removed", async () => {
    const ds = await openTestDataSource(db());
    const table = `auth_meanwhile_${process.pid}`;
    const own = ADA_EVENTS.slice(0, 40);
    await createSampleAuthLogTable(ds, table);
    await insertAuthEvents(ds, own, { table });
    // Pages of 7: the second page (events 7-13) is read while the first is deleted, and the other job
    // removes three of its events after that read (at the first page's heartbeat), before its delete.
    const goneMeanwhile = own.slice(9, 12).map((e) => e.key);
    let first = true;
    const ctx = testContext({
      heartbeat: async () => {
        if (!first) return;
        first = false;
        await ds.query(`DELETE FROM ${table} WHERE ${KEY_COLUMN} IN (?, ?, ?)`, goneMeanwhile);
      },
    });
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 7, heartbeatEveryMs: 0 });
    try {
      const outcome = await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, ctx);
      expect(first, "the other job ran").to.equal(false);
      expect(String(((await ds.query(`SELECT COUNT(*) AS n FROM ${table}`)) as { n: unknown }[])[0].n)).to.equal("0");
      expect(outcome.erased, "erased by this call").to.equal(own.length - goneMeanwhile.length);
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});
