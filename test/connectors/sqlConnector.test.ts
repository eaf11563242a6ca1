import { expect } from "chai";
import { DataSource } from "typeorm";
import { ConnectorError, SubjectRecord } from "../../src/connectors/sdk";
import { configProblems, createSqlConnector, SqlConnector, SqlConnectorConfig, SqlConnectorConfigError, sqlConnectorSpec } from "../../src/connectors/sql";
import { quote } from "../../src/connectors/sql/database";
import { toConnectorError } from "../../src/connectors/sql/errors";
import { collectAll, describeConnectorConformance, testContext } from "../../src/connectors/testing/conformance";
import { describeEachDatabase, describeEachOf, describeEachSqlDialect, TestDatabase } from "../support/databases";
import { identityMatcher } from "../../src/connectors/sql/identityMatch";
import { numberedParameters } from "../../src/connectors/sql/postgres";
import { selectPage } from "../../src/connectors/sql/statements";
import { AccountDb, accountDbConfig, ADA, BJORN, BJORN_STORED, ADA_RECORDS, ADA_SESSIONS, adaSessionAt, GRACE, T0, ZOE, ZOE_STORED } from "./support/accountDb";
import { FaultyProxy } from "./support/faultyProxy";
import { spyOn } from "./support/statementSpy";

const CHUNK = 500;

/** Holds SQLite's exclusive lock from a second connection, so the connector's next statement meets SQLITE_BUSY. */
async function lockSqlite(db: TestDatabase): Promise<() => Promise<void>> {
  const holder = new DataSource({ type: "better-sqlite3", database: db.url.slice("sqlite:".length), fileMustExist: true });
  await holder.initialize();
  await holder.query("BEGIN EXCLUSIVE");
  return async () => {
    await holder.query("ROLLBACK");
    await holder.destroy();
  };
}

/** The connector's url: the SQLite file, or the MariaDB / PostgreSQL database reached through `proxy`. */
function connectorUrl(db: TestDatabase, proxy?: FaultyProxy): string {
  if (!proxy) return db.url;
  const url = new URL(db.url);
  url.host = `127.0.0.1:${proxy.port}`;
  return url.toString();
}

/** Invoices are anonymised, not deleted: after erasure they may stay, without the personal columns. */
const anonymisedInvoice = (r: SubjectRecord) => r.type === "invoice" && r.data.billing_name === null && r.data.billing_address === null;

const DEFAULT_PORTS: Record<string, number> = { mariadb: 3306, postgres: 5432 };

describeEachSqlDialect("SQL connector", (db) => {
  describeConnectorConformance("account-db", async () => {
    const account = await AccountDb.create(db());
    const server = new URL(db().url);
    const proxy = db().kind === "sqlite" ? undefined : await new FaultyProxy({ host: server.hostname, port: Number(server.port || DEFAULT_PORTS[db().kind]) }).start();
    const url = connectorUrl(db(), proxy);
    const connector = createSqlConnector(accountDbConfig(), { url, chunkSize: CHUNK, timeoutMs: 300 });
    const broken = accountDbConfig();
    broken.tables[2].exportColumns.push("device_fingerprint");
    const badConnector = createSqlConnector(broken, { url, timeoutMs: 300 });
    return {
      connector,
      badConnector,
      subject: ADA,
      otherSubject: GRACE,
      mixedCaseSubject: ZOE,
      internationalDomainSubject: BJORN,
      expectedRecordCount: ADA_RECORDS,
      kept: anonymisedInvoice,
      injectRetryableFault: proxy
        ? async () => {
            proxy.break();
            return async () => proxy.heal();
          }
        : () => lockSqlite(db()),
      teardown: async () => {
        await connector.close();
        await badConnector.close();
        await proxy?.stop();
        await account.close();
      },
    };
  });

  describe("createSqlConnector", () => {
    let account: AccountDb;
    let connector: SqlConnector;
    const make = (config: SqlConnectorConfig = accountDbConfig()) => createSqlConnector(config, { url: db().url, chunkSize: CHUNK, timeoutMs: 300 });

    beforeEach(async () => {
      account = await AccountDb.create(db());
      connector = make();
    });
    afterEach(async () => {
      await connector.close();
      await account.close();
    });

    it("pages by primary key, never reading more than a chunk, when the subject has 1,200 sessions", async () => {
      const statements = spyOn(account.ds);
      const viaDataSource = createSqlConnector(accountDbConfig(), { dataSource: account.ds, chunkSize: CHUNK });
      const sessions = (await collectAll(viaDataSource, ADA)).filter((r) => r.type === "session");
      expect(sessions).to.have.length(ADA_SESSIONS);
      expect(new Set(sessions.map((s) => s.id)).size).to.equal(ADA_SESSIONS);
      expect(sessions.map((s) => Number(s.id))).to.deep.equal(sessions.map((s) => Number(s.id)).sort((a, b) => a - b));
      const pages = statements.filter((s) => /FROM .sessions./.test(s.sql));
      expect(pages.map((p) => p.rows)).to.deep.equal([500, 500, 200]);
      expect(Math.max(...statements.map((s) => s.rows))).to.be.at.most(CHUNK);
      await viaDataSource.close();
      expect(account.ds.isInitialized, "a DataSource passed in stays open").to.equal(true);
    });

    it("deletes in chunks of at most 500 rows with a heartbeat after each, when erasing 1,200 sessions", async () => {
      const statements = spyOn(account.ds);
      const viaDataSource = createSqlConnector(accountDbConfig(), { dataSource: account.ds, chunkSize: CHUNK });
      const ctx = testContext();
      const outcome = await viaDataSource.erase(ADA, { categories: ["AUTH_LOGS"] }, ctx);
      expect(outcome).to.deep.equal({ erased: ADA_SESSIONS, erasedIn: { AUTH_LOGS: ADA_SESSIONS } });
      const deletes = statements.filter((s) => /^DELETE FROM .sessions./.test(s.sql));
      expect(deletes.map((s) => s.affected)).to.deep.equal([500, 500, 200]);
      expect(ctx.heartbeats).to.equal(3);
      expect(await account.count("sessions", "user_id = 1")).to.equal(0);
      expect(await account.count("sessions", "user_id <> 1")).to.equal(owners());
    });

    it("leaves the row with the listed columns replaced and no longer leading to the person, when a table is erased with ANONYMIZE", async () => {
      const outcome = await connector.erase(ADA, { categories: ["PAYMENTS"] }, testContext());
      expect(outcome.erased).to.equal(3);
      const rows = await account.rows(`SELECT id, customer_ref, billing_name, billing_address, amount_cents FROM invoices WHERE id IN ('in_ada_001', 'in_ada_002', 'in_ada_003') ORDER BY id`);
      expect(rows.map((r) => [r.id, r.customer_ref, r.billing_name, r.billing_address, Number(r.amount_cents)])).to.deep.equal([
        ["in_ada_001", "", null, null, 1200],
        ["in_ada_002", "", null, null, 1200],
        ["in_ada_003", "", null, null, 1500],
      ]);
      expect(await account.count("invoices", "customer_ref = 'cus_ada_0001'"), "no invoice leads to her customer id").to.equal(0);
      expect((await collectAll(connector, ADA)).filter((r) => r.type === "invoice"), "nor does collect find one").to.deep.equal([]);
      expect(await account.count("invoices", "billing_name IS NOT NULL")).to.equal(3, "Grace's and Alan's invoices keep their names");
      expect((await connector.erase(ADA, { categories: ["PAYMENTS"] }, testContext())).erased).to.equal(0);
    });

    it("writes non-null replacements and counts each row once", async () => {
      const config = accountDbConfig();
      config.tables[0].erase = { strategy: "ANONYMIZE", columns: { email: null, name: "Deleted user", payment_customer_id: null }, keep: ["created_at"] };
      const anonymising = make(config);
      expect((await anonymising.erase(ADA, { categories: ["ACCOUNT"] }, testContext())).erased).to.equal(3, "1 user anonymised, 2 MFA factors deleted");
      const [user] = await account.rows(`SELECT email, name, payment_customer_id FROM users WHERE id = 1`);
      expect(user).to.deep.equal({ email: null, name: "Deleted user", payment_customer_id: null });
      expect((await anonymising.erase(ADA, { categories: ["ACCOUNT"] }, testContext())).erased).to.equal(0);
      await anonymising.close();
    });

    it("keeps rows recorded at or after keepRecordedSince, and erases the older ones", async () => {
      const since = adaSessionAt(100);
      const instruction = { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: since } };
      expect((await connector.erase(ADA, instruction, testContext())).erased).to.equal(ADA_SESSIONS - 101);
      const left = (await collectAll(connector, ADA)).filter((r) => r.type === "session");
      expect(left).to.have.length(101);
      expect(left.every((r) => r.recordedAt!.getTime() >= since.getTime())).to.equal(true);
      expect(left.some((r) => r.recordedAt!.getTime() === since.getTime()), "a row recorded exactly at the instant is kept").to.equal(true);
      expect((await connector.erase(ADA, instruction, testContext())).erased).to.equal(0);
    });

    it("leaves the account's row in place, named residual with why, while sessions kept under retention refer to it (a foreign key that refuses), and erases the rest", async () => {
      // Sessions of the last 10 days are kept; the users row they refer to (REFERENCES users (id), which
      // refuses) stays with them: the erasure completes, and says so, rather than fail for as long as they are kept.
      const keepSince = new Date(T0.getTime() - 10 * 86_400_000);
      const outcome = await connector.erase(ADA, { categories: ["ACCOUNT", "AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: keepSince } }, testContext());
      const kept = ADA_SESSIONS - Array.from({ length: ADA_SESSIONS }, (_, i) => adaSessionAt(i)).filter((at) => at < keepSince).length;
      expect({ users: await account.count("users", "id = 1"), sessions: await account.count("sessions", "user_id = 1"), mfa: await account.count("mfa_factors", "user_id = 1") }).to.deep.equal({ users: 1, sessions: kept, mfa: 0 });
      expect(outcome.erased).to.equal(ADA_SESSIONS - kept + 2, "the older sessions and both MFA factors");
      expect(outcome.residual?.map((r) => [r.category, r.type, r.count])).to.deep.equal([["ACCOUNT", "user", 1]]);
      expect(outcome.residual?.[0].reason).to.match(/^rows of table sessions that stay refer to it with ON DELETE (NO ACTION|RESTRICT) \(rows kept by a retention rule or a legal hold, or another person's\): the database refuses deleting it, so it stays while they do$/);
    });

    it("finds and erases the tables reached through derived identities, when only the email is known", async () => {
      const byEmail = { email: ADA.email };
      expect(await collectAll(connector, byEmail)).to.have.length(ADA_RECORDS);
      const graceBefore = await collectAll(connector, GRACE);
      // users is erased last: the foreign keys of mfa_factors and sessions would refuse it earlier.
      expect((await connector.erase(byEmail, { categories: connector.spec.categories }, testContext())).erased).to.equal(ADA_RECORDS);
      expect(await account.count("users", "id = 1")).to.equal(0);
      expect(await account.count("sessions", "user_id = 1")).to.equal(0);
      expect(await account.count("mfa_factors", "user_id = 1")).to.equal(0);
      expect((await collectAll(connector, ADA)).every(anonymisedInvoice)).to.equal(true);
      expect(await collectAll(connector, GRACE)).to.deep.equal(graceBefore);
    });

    describe("an identity derived from many rows (a shop's guest orders, found by email, give customer refs)", () => {
      const shopConfig = (): SqlConnectorConfig => ({
        name: "shop-db",
        version: "1.0.0",
        tables: [
          { table: "guest_orders", identityColumn: "email", identityKind: "email", category: "PAYMENTS", recordType: "order", primaryKey: "id", exportColumns: ["customer_ref"], erase: { strategy: "DELETE" } },
          accountDbConfig().tables.find((t) => t.table === "invoices")!,
        ],
        provides: [{ kind: "paymentCustomerId", table: "guest_orders", column: "customer_ref" }],
      });
      /** Orders as (email, customer ref) pairs, inserted in this order (ids ascending). */
      async function orders(rows: Array<[string, string]>): Promise<void> {
        await account.rows(`DROP TABLE IF EXISTS guest_orders`);
        await account.rows(`CREATE TABLE guest_orders (id INTEGER PRIMARY KEY, email VARCHAR(320) NOT NULL, customer_ref VARCHAR(64) NOT NULL)`);
        for (let i = 0; i < rows.length; i += 100) {
          const chunk = rows.slice(i, i + 100);
          await account.rows(`INSERT INTO guest_orders (id, email, customer_ref) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`, chunk.flatMap(([email, ref], j) => [i + j + 1, email, ref]));
        }
      }
      afterEach(async () => {
        await account.rows(`DROP TABLE IF EXISTS guest_orders`);
      });

      it("follows every value, also one first seen after the first hundred rows", async () => {
        // 150 orders under Ada's usual customer, then one under a second customer with an invoice of its own.
        await orders([...Array.from({ length: 150 }, (): [string, string] => [ADA.email!, ADA.paymentCustomerId!]), [ADA.email!, "cus_ada_0002"]]);
        await account.rows(`INSERT INTO invoices (id, customer_ref, billing_name, billing_address, amount_cents, issued_at) VALUES ('in_ada_guest', 'cus_ada_0002', 'Ada Lovelace', '12 St James''s Square', 900, ?)`, [account.date(T0)]);
        const shop = make(shopConfig());
        try {
          const records = await collectAll(shop, { email: ADA.email });
          expect(records.filter((r) => r.type === "order")).to.have.length(151);
          expect(records.filter((r) => r.type === "invoice").map((r) => r.id).sort()).to.deep.equal(["in_ada_001", "in_ada_002", "in_ada_003", "in_ada_guest"]);
          // Other connectors take one customer ref: resolve fails rather than hand them one of the two.
          const error = await shop.resolve!({ email: ADA.email }, testContext()).then(
            () => null,
            (e: unknown) => e,
          );
          expect(error).to.be.instanceOf(ConnectorError);
          expect((error as ConnectorError).retryable).to.equal(false);
          expect((error as ConnectorError).userMessage).to.equal(
            "shop-db: the subject has 2 values of paymentCustomerId here (more than one account?), and other systems are found by one paymentCustomerId; the request stopped rather than reach only one account's data. Handle it by hand",
          );
        } finally {
          await shop.close();
        }
      });

      it("fails without writing, naming the table, when one email gives more than 100 values: a value many people share", async () => {
        await orders(Array.from({ length: 101 }, (_, i): [string, string] => ["orders@shared.example", `cus_shared_${String(i).padStart(3, "0")}`]));
        const shop = make(shopConfig());
        try {
          for (const run of [() => collectAll(shop, { email: "orders@shared.example" }), () => shop.erase({ email: "orders@shared.example" }, { categories: ["PAYMENTS"] }, testContext())]) {
            const error = await run().then(
              () => null,
              (e: unknown) => e,
            );
            expect(error).to.be.instanceOf(ConnectorError);
            expect((error as ConnectorError).retryable).to.equal(false);
            expect((error as ConnectorError).userMessage).to.match(/^shop-db: the subject's email is found with more than 100 values of paymentCustomerId in table guest_orders/);
          }
          expect(await account.count("guest_orders", "1 = 1")).to.equal(101);
        } finally {
          await shop.close();
        }
      });
    });

    it("finds a subject stored in mixed case from the normalized email, through the email column's index", async () => {
      const records = await collectAll(connector, ZOE);
      expect(records.map((r) => r.type).sort()).to.deep.equal(["session", "session", "user"]);
      expect(records.find((r) => r.type === "user")!.data.email, "exported as stored").to.equal(ZOE_STORED);
      expect(await connector.resolve(ZOE, testContext())).to.deep.equal({ userId: "5" });
      // The statement collect sends is served by the index (SQLite: the NOCASE one; MariaDB: the _ci column's).
      const users = accountDbConfig().tables[0];
      const statement = selectPage(db().kind === "sqlite" ? "sqlite" : "mysql", users, ["id", "email"], identityMatcher("email", [ZOE.email!]).lookup, undefined, 10);
      if (db().kind === "sqlite") {
        const plan = await account.rows(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.params);
        expect(plan.map((p) => String(p.detail)).join("; ")).to.match(/SEARCH users USING (COVERING )?INDEX users_email_nocase/);
      } else if (db().kind === "mariadb") {
        // (PostgreSQL's lower(email) index is checked by its own EXPLAIN test below.)
        const [plan] = await account.rows(`EXPLAIN ${statement.sql}`, statement.params);
        expect(String(plan.possible_keys)).to.contain("users_email");
        expect(plan.type).to.be.oneOf(["range", "ref", "const", "eq_ref"]);
      }
      expect((await connector.erase(ZOE, { categories: connector.spec.categories }, testContext())).erased).to.equal(3);
      expect(await account.count("users", "id = 5")).to.equal(0);
    });

    it("finds, resolves and erases a subject stored with an internationalised domain in ASCII capitals, from the Unicode matching form", async () => {
      // Each also with a space before, after or both (a form that did not trim).
      // The case variants of ü are there for a comparison that folds ASCII letters only (SQLite NOCASE, PostgreSQL under "C").
      const spellings = ["bjorn@bücher.de", "BJORN@BÜCHER.DE", "bjorn@xn--bcher-kva.de", "BJORN@XN--BCHER-KVA.DE", "bjorn@bÜcher.de"];
      expect(identityMatcher("email", [BJORN.email!]).lookup.spellings).to.deep.equal(spellings.flatMap((s) => [s, ` ${s}`, `${s} `, ` ${s} `]));
      const records = await collectAll(connector, BJORN);
      expect(records.map((r) => r.type)).to.deep.equal(["user"]);
      expect(records[0].data.email, "exported as stored").to.equal(BJORN_STORED);
      expect(await connector.resolve(BJORN, testContext())).to.deep.equal({ userId: "7" });
      expect((await connector.erase(BJORN, { categories: connector.spec.categories }, testContext())).erased).to.equal(1);
      expect(await account.count("users", "id = 7")).to.equal(0);
    });

    it("keeps addresses that differ only by an accent apart, on every database", async () => {
      const other = { email: "josé@example.de" };
      expect(await collectAll(connector, other)).to.deep.equal([]);
      expect(await connector.resolve(other, testContext())).to.deep.equal({});
      expect((await connector.erase(other, { categories: connector.spec.categories }, testContext())).erased).to.equal(0);
      expect(await connector.rectify(other, [{ field: "name", value: "Someone Else" }], testContext())).to.deep.equal({ changed: [], notHeld: ["name"] });
      expect(await account.rows(`SELECT email, name FROM users WHERE id = 6`)).to.deep.equal([{ email: "jose@example.de", name: "Jose Plain" }]);
    });

    it("finds phone numbers stored in any usual spelling, and only the subject's, from the E.164 form", async () => {
      const ddl =
        db().kind === "sqlite"
          ? [`CREATE TABLE sms_codes (id INTEGER PRIMARY KEY, phone VARCHAR(32) NOT NULL, sent_at TEXT NOT NULL)`, `CREATE INDEX sms_codes_phone ON sms_codes (phone)`]
          : db().kind === "postgres"
            ? [`CREATE TABLE sms_codes (id INT NOT NULL PRIMARY KEY, phone VARCHAR(32) NOT NULL, sent_at VARCHAR(24) NOT NULL)`, `CREATE INDEX sms_codes_phone ON sms_codes (phone)`]
            : [`CREATE TABLE sms_codes (id INT NOT NULL PRIMARY KEY, phone VARCHAR(32) NOT NULL, sent_at VARCHAR(24) NOT NULL, KEY sms_codes_phone (phone)) ENGINE=InnoDB`];
      await account.rows(`DROP TABLE IF EXISTS sms_codes`);
      for (const statement of ddl) await account.rows(statement);
      const stored = ["+442079460958", "+44 20 7946 0958", "020 7946 0958", "02079460958", "00442079460958", "+44 20 7946 0959", "+91 20 7946 0958"];
      for (const [i, phone] of stored.entries()) await account.rows(`INSERT INTO sms_codes (id, phone, sent_at) VALUES (?, ?, ?)`, [i + 1, phone, "2025-01-01T00:00:00.000Z"]);
      const config: SqlConnectorConfig = {
        name: "sms",
        version: "1.0.0",
        defaultPhoneCountry: "GB",
        tables: [{ table: "sms_codes", identityColumn: "phone", identityKind: "phone", category: "AUTH_LOGS", recordType: "sms_code", primaryKey: "id", exportColumns: ["phone", "sent_at"], erase: { strategy: "DELETE" } }],
      };
      const sms = make(config);
      try {
        const found = await collectAll(sms, { email: "ada.lovelace@example.com", phone: "+442079460958" });
        expect(found.map((r) => r.data.phone)).to.deep.equal(stored.slice(0, 5));
        expect((await sms.erase({ email: "x@example.com", phone: "+442079460958" }, { categories: ["AUTH_LOGS"] }, testContext())).erased).to.equal(5);
        expect((await account.rows(`SELECT phone FROM sms_codes ORDER BY id`)).map((r) => r.phone)).to.deep.equal(stored.slice(5));
      } finally {
        await sms.close();
        await account.rows(`DROP TABLE sms_codes`);
      }
    });

    it("follows no phone two accounts share (a household's line), says so, and reaches the rows of a phone one account holds", async () => {
      const text = db().kind === "sqlite" ? "TEXT" : "VARCHAR(64)";
      const ddl = [
        `CREATE TABLE household_users (id INT NOT NULL PRIMARY KEY, email ${text} NOT NULL, phone ${text} NULL)`,
        `CREATE TABLE household_sms (id INT NOT NULL PRIMARY KEY, phone ${text} NOT NULL, sent_at ${text} NOT NULL)`,
      ];
      for (const t of ["household_sms", "household_users"]) await account.rows(`DROP TABLE IF EXISTS ${t}`);
      for (const statement of ddl) await account.rows(statement);
      const users: [number, string, string][] = [
        [1, "ada@home.example", "+44 20 7946 0100"],
        [2, "charles@home.example", "+44 20 7946 0100"],
        [3, "grace@elsewhere.example", "+44 20 7946 0200"],
      ];
      for (const row of users) await account.rows(`INSERT INTO household_users (id, email, phone) VALUES (?, ?, ?)`, row);
      for (const [i, phone] of ["+44 20 7946 0100", "+44 20 7946 0100", "+44 20 7946 0200"].entries()) {
        await account.rows(`INSERT INTO household_sms (id, phone, sent_at) VALUES (?, ?, ?)`, [i + 1, phone, "2025-01-01T00:00:00.000Z"]);
      }
      const household = make({
        name: "household",
        version: "1.0.0",
        tables: [
          { table: "household_users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email", "phone"], erase: { strategy: "DELETE" } },
          { table: "household_sms", identityColumn: "phone", identityKind: "phone", category: "AUTH_LOGS", recordType: "sms_code", primaryKey: "id", exportColumns: ["phone", "sent_at"], erase: { strategy: "DELETE" } },
        ],
        provides: [{ kind: "phone", table: "household_users", column: "phone" }],
      });
      try {
        const notSearched: unknown[] = [];
        const ada = await collectAll(household, { email: "ada@home.example" }, testContext({ notSearched: (set) => void notSearched.push(set) }));
        expect(ada.map((r) => r.type)).to.deep.equal(["user"]);
        expect(notSearched).to.have.length(1);
        expect(notSearched[0]).to.deep.include({ category: "AUTH_LOGS", type: "sms_code" });
        expect(await household.resolve({ email: "ada@home.example" }, testContext()), "the shared line is not handed on").to.deep.equal({});
        expect((await household.erase({ email: "charles@home.example" }, { categories: ["ACCOUNT", "AUTH_LOGS"] }, testContext())).erased).to.equal(1);
        // Asked of the database: the household's codes are all there; Grace's own line leads to her code.
        expect(await account.count("household_sms", "id IN (1, 2)")).to.equal(2);
        expect((await collectAll(household, { email: "grace@elsewhere.example" })).map((r) => r.type).sort()).to.deep.equal(["sms_code", "user"]);
        expect(await household.resolve({ email: "grace@elsewhere.example" }, testContext())).to.deep.equal({ phone: "+442079460200" });
      } finally {
        await household.close();
        for (const t of ["household_sms", "household_users"]) await account.rows(`DROP TABLE ${t}`);
      }
    });

    it("refuses, in every call, an identity it provides that was given and is not the subject's here, and takes the subject's own", async () => {
      const sessionsOf = async () => ({ ada: await account.count("sessions", "user_id = 1"), grace: await account.count("sessions", "user_id = 2") });
      const before = await sessionsOf();
      const refused = async (ids: { email: string; userId: string }, whose: RegExp) => {
        const calls: [string, () => Promise<unknown>][] = [
          ["resolve", () => connector.resolve(ids, testContext())],
          ["collect", () => collectAll(connector, ids)],
          ["erase", () => connector.erase(ids, { categories: connector.spec.categories }, testContext())],
          ["rectify", () => connector.rectify(ids, [{ field: "name", value: "Someone" }], testContext())],
        ];
        for (const [call, run] of calls) {
          const error = await run().then(() => null, (e: unknown) => e);
          expect(error, `${call} ${JSON.stringify(ids)}`).to.be.instanceOf(ConnectorError);
          expect((error as ConnectorError).retryable).to.equal(false);
          expect((error as ConnectorError).userMessage).to.match(new RegExp(`^account-db: the userId the request gives is not the subject's here \\(${whose.source}, found by their email\\); the ${call} stopped`));
          for (const value of Object.values(ids)) expect((error as ConnectorError).userMessage).not.to.include(value);
        }
      };
      // Grace's id beside Ada's address, an id nobody has beside it, and Grace's id beside an address nobody has.
      await refused({ email: ADA.email, userId: GRACE.userId as string }, /their users row holds another userId/);
      await refused({ email: ADA.email, userId: "999" }, /their users row holds another userId/);
      await refused({ email: "nobody@example.com", userId: GRACE.userId as string }, /another person's users row holds it/);
      expect(await sessionsOf()).to.deep.equal(before);
      expect(await account.count("users", "name = 'Someone'")).to.equal(0);
      // Her own id is hers; an id no account holds, beside an address no account holds, reaches its own rows (none here).
      expect(await collectAll(connector, { email: ADA.email, userId: "1" })).to.have.length(ADA_RECORDS);
      expect(await connector.resolve({ email: ADA.email, userId: "1" }, testContext())).to.deep.equal({ userId: "1", paymentCustomerId: ADA.paymentCustomerId });
      expect(await collectAll(connector, { email: "nobody@example.com", userId: "999" })).to.deep.equal([]);
      // Yet resolve, which every other system waits for, confirms no id for an address no account holds.
      const unconfirmed = await connector.resolve({ email: "nobody@example.com", userId: "999" }, testContext()).then(() => null, (e: unknown) => e);
      expect((unconfirmed as ConnectorError).userMessage).to.match(/^account-db: the userId the request gives is not the subject's here \(no users row of theirs holds one, found by their email\); the resolve stopped/);
    });

    it("refuses, in every call, an identity it would derive that another person's row holds too, and serves the other person alone no more either", async () => {
      await account.rows(`INSERT INTO users (id, email, name, payment_customer_id, created_at) VALUES (8, 'carol@example.com', 'Carol', ?, ?)`, [ADA.paymentCustomerId, account.date(T0)]);
      const invoices = await account.count("invoices", "billing_name IS NOT NULL");
      for (const email of [ADA.email, "carol@example.com"]) {
        const calls: [string, () => Promise<unknown>][] = [
          ["resolve", () => connector.resolve({ email }, testContext())],
          ["collect", () => collectAll(connector, { email })],
          ["erase", () => connector.erase({ email }, { categories: connector.spec.categories }, testContext())],
        ];
        for (const [call, run] of calls) {
          const error = await run().then(() => null, (e: unknown) => e);
          expect(error, `${call} ${email}`).to.be.instanceOf(ConnectorError);
          expect((error as ConnectorError).userMessage).to.match(new RegExp(`^account-db: the subject's paymentCustomerId here is not theirs alone \\(another person's users row holds it, found by their email\\); the ${call} stopped`));
          expect((error as ConnectorError).userMessage).not.to.include(ADA.paymentCustomerId);
        }
      }
      expect(await account.count("invoices", "billing_name IS NOT NULL")).to.equal(invoices);
      expect(await account.count("users", "id IN (1, 8)")).to.equal(2);
      // Grace's own customer id is hers alone.
      expect(await connector.resolve({ email: GRACE.email }, testContext())).to.deep.equal({ userId: "2", paymentCustomerId: GRACE.paymentCustomerId });
    });

    it("returns the identities it provides, when resolving an email", async () => {
      expect(await connector.resolve({ email: ADA.email }, testContext())).to.deep.equal({ userId: "1", paymentCustomerId: ADA.paymentCustomerId });
      expect(await connector.resolve({ email: "katherine.johnson@example.com" }, testContext()), "an empty customer id is no identity").to.deep.equal({ userId: "4" });
      expect((await collectAll(connector, { email: "katherine.johnson@example.com" })).map((r) => r.type)).to.deep.equal(["user"]);
      expect(await connector.resolve({ email: "nobody@example.com" }, testContext())).to.deep.equal({});
    });

    it("corrects the configured fields in one statement per table and reports others as not held", async () => {
      const outcome = await connector.rectify(
        { email: ADA.email },
        [
          { field: "email", value: "ada@example.org" },
          { field: "name", value: "Augusta Ada King" },
          { field: "phone", value: "+44 20 7946 0000" },
        ],
        testContext(),
      );
      expect(outcome).to.deep.equal({ changed: ["email", "name"], notHeld: ["phone"] });
      expect(await account.rows(`SELECT email, name FROM users WHERE id = 1`)).to.deep.equal([{ email: "ada@example.org", name: "Augusta Ada King" }]);
    });

    it("names each missing table and column, when check runs against a schema that lacks them", async () => {
      const config = accountDbConfig();
      config.tables[1].table = "user_factors";
      config.tables[2].exportColumns.push("device_fingerprint", "country");
      const broken = make(config);
      const result = await broken.check(testContext());
      expect(result.ok).to.equal(false);
      expect(result.message).to.contain("table user_factors does not exist");
      expect(result.message).to.contain("table sessions has no column device_fingerprint, country");
      await broken.close();
    });

    it("treats identity values as data, never as SQL", async () => {
      for (const email of ["' OR '1'='1", `${ADA.email}' --`, `x" OR "1"="1`]) expect(await collectAll(connector, { email })).to.deep.equal([]);
      expect(await account.count("users")).to.equal(7);
    });

    it("stops between chunks, when the task is aborted, and a retry finishes the erasure", async () => {
      const ctx = testContext();
      const aborting = testContext({ signal: ctx.signal, heartbeat: async () => ctx.abort("lease-lost") });
      const error = await connector.erase(ADA, { categories: connector.spec.categories }, aborting).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      expect(await account.count("users", "id = 1"), "the identity source is erased last, so it is still there").to.equal(1);
      expect((await connector.erase(ADA, { categories: connector.spec.categories }, testContext())).erased).to.equal(ADA_SESSIONS + 1 + 3);
      expect((await collectAll(connector, ADA)).every(anonymisedInvoice)).to.equal(true);
    });

    it("reports an unreachable database from check, and fails the calls with a ConnectorError", async () => {
      const url = { sqlite: `sqlite:${db().url.slice("sqlite:".length)}.missing`, mariadb: "mysql://root@127.0.0.1:1/nowhere", postgres: "postgres://postgres@127.0.0.1:1/nowhere" }[db().kind];
      const unreachable = createSqlConnector(accountDbConfig(), { url, timeoutMs: 300 });
      const result = await unreachable.check(testContext());
      expect(result.ok).to.equal(false);
      expect(result.message).to.match(db().kind === "sqlite" ? /SQLITE_CANTOPEN/ : /unreachable or busy \(ECONNREFUSED\)/);
      const error = (await collectAll(unreachable, ADA).catch((e: unknown) => e)) as ConnectorError;
      expect(error).to.be.instanceOf(ConnectorError);
      expect(error.retryable, "a refused connection is retried; a missing SQLite file is a configuration error").to.equal(db().kind !== "sqlite");
      await unreachable.close();
    });
  });

  /** Sessions of everyone but the subject (5 of Grace's and the interleaved ones of user 3). */
  function owners(): number {
    // Grace's 5, Alan's one in every 80, Zoë's 2.
    return 5 + Math.ceil((ADA_SESSIONS + 5 + 2) / 80) + 2;
  }
});

describeEachOf(["postgres"], "SQL connector on PostgreSQL", (db) => {
  let account: AccountDb;
  let connector: SqlConnector;
  beforeEach(async () => {
    account = await AccountDb.create(db());
    connector = createSqlConnector(accountDbConfig(), { url: db().url, chunkSize: CHUNK, timeoutMs: 1000 });
  });
  afterEach(async () => {
    await connector.close();
    await account.close();
  });

  it("finds the subject by email whatever its case, and the other identities exactly", async () => {
    const shouted = { email: "ADA.Lovelace@Example.COM" };
    expect(await collectAll(connector, shouted)).to.have.length(ADA_RECORDS);
    expect(await connector.resolve(shouted, testContext())).to.deep.equal({ userId: "1", paymentCustomerId: ADA.paymentCustomerId });
    expect(await collectAll(connector, { email: "ada.lovelace@example.co" })).to.deep.equal([]);
    expect(await collectAll(connector, { email: "x", paymentCustomerId: ADA.paymentCustomerId!.toUpperCase() }), "customer ids compare exactly").to.deep.equal([]);
    await account.rows(`UPDATE users SET email = ? WHERE id = 2`, ["Grace.Hopper@Example.com"]);
    const graces = await collectAll(connector, { email: GRACE.email });
    expect(graces.filter((r) => r.type === "user").map((r) => r.data.email)).to.deep.equal(["Grace.Hopper@Example.com"]);
    await connector.erase({ email: GRACE.email }, { categories: connector.spec.categories }, testContext());
    expect(await account.count("users", "id = 2")).to.equal(0);
    expect(await account.count("sessions", "user_id = 2")).to.equal(0);
  });

  it("reads a timestamp without time zone as UTC, whatever the process's zone, and keeps what retention keeps by it", async () => {
    // A table whose dates are `timestamp` (no zone), as many schemas have; the service runs in India.
    await account.rows(`CREATE TABLE visits (id INTEGER PRIMARY KEY, email TEXT NOT NULL, page TEXT, at TIMESTAMP(3) NOT NULL)`);
    await account.rows(`INSERT INTO visits VALUES (1, 'ada.lovelace@example.com', '/a', '2024-06-01 08:00:00'), (2, 'ada.lovelace@example.com', '/b', '2024-06-01 12:00:00')`);
    const visits = createSqlConnector(
      { name: "visits", version: "1", tables: [{ table: "visits", identityColumn: "email", identityKind: "email", category: "AUTH_LOGS", recordType: "visit", primaryKey: "id", exportColumns: ["page", "at"], recordedAtColumn: "at", erase: { strategy: "DELETE" } }] },
      { url: db().url },
    );
    const zone = process.env.TZ;
    process.env.TZ = "Asia/Kolkata";
    try {
      const found = await collectAll(visits, { email: ADA.email! });
      expect(found.map((r) => r.recordedAt!.toISOString())).to.deep.equal(["2024-06-01T08:00:00.000Z", "2024-06-01T12:00:00.000Z"]);
      // Retention keeps what was recorded from 10:00 UTC on: visit 2, two hours inside it.
      const outcome = await visits.erase!({ email: ADA.email! }, { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: new Date("2024-06-01T10:00:00Z") } }, testContext());
      expect(outcome.erased).to.equal(1);
      expect((await account.rows(`SELECT id FROM visits ORDER BY id`)).map((r) => Number(r.id))).to.deep.equal([2]);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
      await visits.close();
    }
  });

  it("reads the subject's rows through the lower(email) index, not a scan, as EXPLAIN shows", async () => {
    const [users] = accountDbConfig().tables;
    const statement = selectPage("postgres", users, ["id", "email"], identityMatcher("email", [ADA.email!]).lookup, undefined, CHUNK);
    expect(statement.sql).to.match(/lower\("email"\) IN \(\?::text(, \?::text)*\)/);
    // A few thousand other users, so a sequential scan would be the planner's choice were the index unusable.
    await account.rows(`INSERT INTO users (id, email, name, created_at) SELECT g, 'user' || g || '@example.com', 'U', now() FROM generate_series(100, 5099) g`);
    await account.rows("ANALYZE users");
    const plan = (await account.rows(`EXPLAIN ${numberedParameters(statement.sql)}`, statement.params)).map((r) => String(r["QUERY PLAN"])).join("\n");
    expect(plan).to.match(/Index Scan using users_email_lower on users|Bitmap Index Scan on users_email_lower/);
    expect(plan).not.to.match(/Seq Scan/);
  });
});

describe("createSqlConnector configuration", () => {
  const url = "sqlite:/tmp/never-opened.sqlite";
  const problemsOf = (config: unknown, options: object = { url }): string[] => {
    try {
      createSqlConnector(config as SqlConnectorConfig, options);
    } catch (error) {
      expect(error).to.be.instanceOf(SqlConnectorConfigError);
      return (error as SqlConnectorConfigError).problems;
    }
    throw new Error("the configuration was accepted");
  };

  it("derives needs, provides, categories, supported actions and the identity fields it corrects from the configuration", () => {
    expect(sqlConnectorSpec(accountDbConfig())).to.deep.equal({
      name: "account-db",
      version: "1.0.0",
      supports: ["access", "erasure", "rectification"],
      needs: ["email"],
      needsAny: true,
      provides: ["userId", "paymentCustomerId"],
      categories: ["ACCOUNT", "AUTH_LOGS", "PAYMENTS"],
      correctionFields: ["name", "email"],
      // users.email is the column its users table is found by; name decides nothing.
      identityFields: [{ field: "email", kind: "email" }],
      // Every UPDATE of a correction runs in a unit of its own: a throw before the first wrote nothing.
      rectifiesInUnits: true,
    });
    const { rectifiable: _, ...plain } = accountDbConfig();
    expect(sqlConnectorSpec(plain).supports).to.deep.equal(["access", "erasure"]);
  });

  it("lists every problem in one error: bad identifier, unknown strategy, missing exportColumns", () => {
    const config = accountDbConfig() as unknown as { tables: Record<string, unknown>[] };
    config.tables[0].identityColumn = "e-mail";
    config.tables[1].erase = { strategy: "TRUNCATE" };
    delete config.tables[2].exportColumns;
    const problems = problemsOf(config);
    expect(problems).to.deep.equal([
      `tables[0] (users): identityColumn "e-mail" is not a plain identifier (letters, digits, underscore; at most 64; not starting with a digit)`,
      `tables[1] (mfa_factors): erase.strategy "TRUNCATE" is unknown (use DELETE or ANONYMIZE)`,
      `tables[2] (sessions): exportColumns is required (the columns the subject receives)`,
    ]);
    expect(() => createSqlConnector(config as unknown as SqlConnectorConfig, { url })).to.throw(/TRUNCATE[\s\S]*exportColumns is required/);
  });

  it("refuses an ANONYMIZE that would leave rows leading to the person, or exported columns nobody said identify nobody", () => {
    const config = accountDbConfig();
    // Rows still holding the customer id (and the user row its email and customer id) are still the
    // person's: the check after erasing finds them, and the deletion could never complete.
    config.tables[0].erase = { strategy: "ANONYMIZE", columns: { name: null, payment_customer_id: "none" }, keep: ["name"] };
    config.tables[3].erase = { strategy: "ANONYMIZE", columns: { customer_ref: "erased", billing_name: null } };
    expect(problemsOf(config)).to.deep.equal([
      `tables[0] (users): erase.keep lists "name", which erase.columns overwrites: name each column in one of them`,
      `tables[0] (users): ANONYMIZE must overwrite its identity column email (with null, or "" where it cannot be null): a row that still holds it still leads to the person, so it is not anonymous`,
      `tables[0] (users): ANONYMIZE leaves the exported columns "email", "created_at" as they are: overwrite them in erase.columns, or list them in erase.keep if they identify nobody once the row no longer leads to the person (an amount, a date)`,
      `tables[3] (invoices): ANONYMIZE must overwrite its identity column customer_ref with null or "": with "erased" every anonymised row would be found as the person whose identity that is`,
      `tables[3] (invoices): ANONYMIZE leaves the exported columns "amount_cents", "billing_address", "issued_at" as they are: overwrite them in erase.columns, or list them in erase.keep if they identify nobody once the row no longer leads to the person (an amount, a date)`,
      `provides[1]: ANONYMIZE must overwrite the column payment_customer_id (table users provides paymentCustomerId from it) with null or "": with "none" every anonymised row would be found as the person whose identity that is`,
    ]);
    // The primary key it provides userId from cannot be overwritten, and leads only to its own row.
    config.tables[0].erase = { strategy: "ANONYMIZE", columns: { email: null, name: null, payment_customer_id: null }, keep: ["created_at"] };
    config.tables[3].erase = { strategy: "ANONYMIZE", columns: { customer_ref: "", billing_name: null, billing_address: null }, keep: ["amount_cents", "issued_at"] };
    expect(configProblems(config)).to.deep.equal([]);
  });

  it("refuses an identifier that carries SQL, like `users; DROP TABLE x`", () => {
    const config = accountDbConfig();
    config.tables[0].table = "users; DROP TABLE x";
    config.tables[2].exportColumns = ["ip", "user_agent) FROM users --"];
    const problems = problemsOf(config);
    expect(problems.some((p) => p.includes(`table "users; DROP TABLE x" is not a plain identifier`))).to.equal(true);
    expect(problems.some((p) => p.includes(`exportColumns[1] "user_agent) FROM users --" is not a plain identifier`))).to.equal(true);
    expect(() => quote("mysql", "users`; DROP TABLE x")).to.throw(/refusing/);
  });

  it("reports unknown fields, bad names, dangling provides and bad connection options together", () => {
    const config = { ...accountDbConfig(), name: "Account DB", exportColumn: ["x"], provides: [{ kind: "userId", table: "accounts", column: "id" }] };
    const problems = problemsOf(config, { url: "oracle://admin:s3cret@db/app", chunkSize: 0 });
    expect(problems).to.have.length(5);
    expect(problems.join("\n")).to.contain(`name "Account DB"`).and.contain(`unknown field "exportColumn"`).and.contain(`table "accounts" is not one of the configured tables`);
    expect(problems.join("\n")).to.contain("url must look like").and.contain("chunkSize must be").and.not.contain("s3cret");
  });

  it("refuses identities that can never be derived, when providers form a cycle", () => {
    const config = accountDbConfig();
    config.tables = config.tables.slice(1, 3);
    config.provides = [{ kind: "userId", table: "mfa_factors", column: "user_id" }];
    config.tables[0].identityKind = "sessionOwner";
    config.tables[1].identityKind = "userId";
    config.provides.push({ kind: "sessionOwner", table: "sessions", column: "user_id" });
    config.rectifiable = {};
    const problems = problemsOf(config);
    expect(problems.join("\n")).to.contain("identity cycle").and.contain("at least one table must be found by an identity the request carries");
  });
});

describe("SQL connector errors", () => {
  const retryable = (error: unknown) => toConnectorError(error, "account-db", "erase", "sessions").retryable;

  it("marks connection loss, lock waits, deadlocks and SQLITE_BUSY retryable, and schema errors not", () => {
    expect(retryable({ message: "connect ECONNREFUSED", code: "ECONNREFUSED" })).to.equal(true);
    expect(retryable(new AggregateError([Object.assign(new Error("connect ECONNREFUSED ::1:3306"), { code: "ECONNREFUSED" })]))).to.equal(true);
    expect(retryable({ message: "read ECONNRESET", driverError: { code: "ECONNRESET" } })).to.equal(true);
    expect(retryable({ message: "Lock wait timeout exceeded", driverError: { code: "ER_LOCK_WAIT_TIMEOUT", errno: 1205 } })).to.equal(true);
    expect(retryable({ message: "Deadlock found", code: "ER_LOCK_DEADLOCK", errno: 1213 })).to.equal(true);
    expect(retryable({ message: "database is locked", driverError: { code: "SQLITE_BUSY" } })).to.equal(true);
    expect(retryable({ message: "Table 'x.sessions' doesn't exist", code: "ER_NO_SUCH_TABLE", errno: 1146 })).to.equal(false);
    expect(retryable({ message: "no such column: ip", driverError: { code: "SQLITE_ERROR" } })).to.equal(false);
    // PostgreSQL: SQLSTATEs, and pg's code-less "connection lost".
    expect(retryable({ message: "deadlock detected", driverError: { code: "40P01" } })).to.equal(true);
    expect(retryable({ message: "canceling statement due to lock timeout", code: "55P03" })).to.equal(true);
    expect(retryable({ message: "Connection terminated unexpectedly", driverError: { message: "Connection terminated unexpectedly" } })).to.equal(true);
    expect(retryable({ message: 'relation "sessions" does not exist', driverError: { code: "42P01" } })).to.equal(false);
    expect(toConnectorError({ message: 'column "ip" does not exist', driverError: { code: "42703" } }, "account-db", "collect", "sessions").userMessage).to.match(/does not exist; fix the connector configuration/);
  });

  it("keeps SQL and values out of userMessage and values out of internalMessage", () => {
    const driverError = {
      code: "ER_DUP_ENTRY",
      errno: 1062,
      sqlMessage: `Duplicate entry 'ada.lovelace@example.com' for key 'users_email'`,
      sql: `UPDATE \`users\` SET \`email\` = 'ada.lovelace@example.com' WHERE id = 1`,
    };
    const error = toConnectorError({ message: driverError.sqlMessage, query: driverError.sql, parameters: [ADA.email], driverError }, "account-db", "rectify", "users");
    expect(error.retryable).to.equal(false);
    expect(error.userMessage).to.equal("account-db: the database refused the rectify (table users) (ER_DUP_ENTRY); details are in the service log");
    expect(error.internalMessage).to.contain("ER_DUP_ENTRY").and.not.contain(ADA.email).and.not.contain("UPDATE");
    // A corrected value its column refuses: MariaDB and PostgreSQL quote it in their messages (as measured on both).
    const refused = [
      { code: "ER_TRUNCATED_WRONG_VALUE", errno: 1292, sqlMessage: "Incorrect datetime value: 'born on a Tuesday' for column `test`.`users`.`created_at` at row 1" },
      { code: "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", errno: 1366, sqlMessage: "Incorrect integer value: 'born on a Tuesday' for column `test`.`users`.`age` at row 1" },
      { code: "22007", message: 'invalid input syntax for type timestamp with time zone: "born on a Tuesday"' },
      { code: "22003", message: 'value "born on a Tuesday" is out of range for type integer' },
    ];
    for (const driver of refused) {
      const e = toConnectorError({ message: driver.sqlMessage ?? driver.message, driverError: driver }, "account-db", "rectify", "users");
      expect(e.internalMessage, driver.code).to.contain(driver.code).and.not.contain("Tuesday");
      expect(e.userMessage, driver.code).to.match(/^account-db: the database refused a corrected value \(table users\) \(\w+\): it does not fit its column/);
    }
  });
});
