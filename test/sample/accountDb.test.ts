import { expect } from "chai";
import { DataSource } from "typeorm";
import { createSqlConnector } from "../../src/connectors/sql";
import { collectAll, describeConnectorConformance, testContext } from "../../src/connectors/testing/conformance";
import { sampleAccountDbConfig, seedAccountDb } from "../../src/sample/accountDb";
import { samplePeople } from "../../src/sample/people";
import { createMariadbDatabase, createSqliteDatabase, TestDatabase } from "../support/databases";

const PEOPLE = samplePeople(30, { authEventsForAda: 10 });
const [ADA, GRACE] = PEOPLE;

async function open(db: TestDatabase): Promise<DataSource> {
  const ds =
    db.kind === "sqlite"
      ? new DataSource({ type: "better-sqlite3", database: db.url.slice("sqlite:".length) })
      : new DataSource({ type: "mysql", url: db.url, timezone: "Z", charset: "utf8mb4_unicode_ci" });
  return ds.initialize();
}

for (const kind of ["sqlite", "mariadb"] as const) {
  describe(`sample account database [${kind}]`, function () {
    describeConnectorConformance(`account-db [${kind}]`, async () => {
      const db = kind === "sqlite" ? await createSqliteDatabase() : await createMariadbDatabase();
      const ds = await open(db);
      await seedAccountDb(ds, PEOPLE);
      const [row] = await ds.query(
        `SELECT (SELECT COUNT(*) FROM mfa_factors WHERE user_id = ?) + (SELECT COUNT(*) FROM auth_preferences WHERE user_id = ?) + (SELECT COUNT(*) FROM devices WHERE user_id = ?) AS n`,
        [ADA.userId, ADA.userId, ADA.userId],
      );
      await ds.destroy();
      const connector = createSqlConnector(sampleAccountDbConfig(), { url: db.url });
      const bad = createSqlConnector(sampleAccountDbConfig(), { url: db.kind === "sqlite" ? "sqlite:/nonexistent/dir/accounts.sqlite" : db.url.replace(/\/[^/]+$/, "/no_such_database") });
      return {
        connector,
        badConnector: bad,
        subject: { email: ADA.email },
        otherSubject: { email: GRACE.email },
        // Zoë's account was created as Zoe+dsr@Example.COM.
        mixedCaseSubject: { email: "zoe+dsr@example.com" },
        expectedRecordCount: 1 + Number(row.n),
        correction: { field: "jobTitle", value: "Countess of Lovelace" },
        teardown: async () => {
          await connector.close();
          await bad.close();
          await db.drop();
        },
      };
    });

    it("provides every identity the other sample systems need, and keeps secrets out of the records", async () => {
      const db = kind === "sqlite" ? await createSqliteDatabase() : await createMariadbDatabase();
      const ds = await open(db);
      try {
        expect(await seedAccountDb(ds, PEOPLE)).to.equal(true);
        expect(await seedAccountDb(ds, PEOPLE), "a second seed leaves the data alone").to.equal(false);
      } finally {
        await ds.destroy();
      }
      const connector = createSqlConnector(sampleAccountDbConfig(), { url: db.url });
      try {
        const found = await connector.resolve!({ email: ADA.email }, testContext());
        expect(found).to.include({ userId: ADA.userId, phone: ADA.phone, paymentCustomerId: ADA.paymentCustomerId, ticketingUserId: ADA.ticketingUserId });
        const records = await collectAll(connector, { email: ADA.email, ...found });
        expect(records.map((r) => r.type)).to.include.members(["user", "mfa_factor", "auth_preference", "device"]);
        expect(JSON.stringify(records)).not.to.contain("vault:mfa");
        const user = records.find((r) => r.type === "user")!;
        expect(user.data).to.include({ name: "Ada Lovelace", company: ADA.company, job_title: ADA.jobTitle, status: "ACTIVE" });
      } finally {
        await connector.close();
        await db.drop();
      }
    });
  });
}
