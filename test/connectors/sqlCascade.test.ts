import { expect } from "chai";
import { DataSource } from "typeorm";
import { createSqlConnector, SqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import { numberedParameters } from "../../src/connectors/sql/postgres";
import { HELD_BACK_ROW_CHANGED } from "../../src/connectors/sql/foreignKeys";
import { testContext } from "../../src/connectors/testing/conformance";
import { Role } from "../../src/domain/enums";
import { describeEachSqlDialect, TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { sqlSuiteHooks } from "./support/accountDb";

/**
 * Foreign keys the database acts on by itself. `invoices.user_id REFERENCES users (id) ON DELETE
 * CASCADE` (or SET NULL): the connector erased `users` last, as documented, and the database then
 * deleted (or unlinked) the invoices the 7-year tax rule or a legal hold keeps, while the request
 * reported them kept. Checked through GraphQL and against the tables themselves, on every dialect.
 */

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector category plannedToErase erased plannedToKeep kept residual matchesPlan differences { kind records } }
  retentionExceptions { connector category recordType recordCount holdId }
  residualRecords { connector recordType records fields reason } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { kept { connector category recordType records } residual { category recordType records reason } } }`;
/** Ada's invoices: one older than the 7-year tax rule (from the service's clock, 2026-03-02), two within it. */
const OLD = "2015-01-15T00:00:00.000Z";
const RECENT = ["2024-01-15T00:00:00.000Z", "2025-06-01T00:00:00.000Z"];
/** What the parent row is left in place for, per action (the reason names the table and the action). */
const CASCADE_REASON = /^rows of table invoices that stay refer to it with ON DELETE CASCADE/;
const SET_NULL_REASON = /^rows of table invoices that stay refer to it with ON DELETE SET NULL/;
/** Keys that refuse (RESTRICT; NO ACTION, a plain REFERENCES): before, the erase failed, and every deletion of her with it while the rule kept invoices. */
const refusingReason = (action: string) => new RegExp(`^rows of table invoices that stay refer to it with ON DELETE ${action} \\(.*\\): the database refuses deleting it, so it stays while they do$`);
const reasonFor = (action: Action) => (action === "CASCADE" ? CASCADE_REASON : action === "SET NULL" ? SET_NULL_REASON : refusingReason(action));

type Action = "CASCADE" | "SET NULL" | "RESTRICT" | "NO ACTION";

function shopConfig(): SqlConnectorConfig {
  return {
    name: "shop-db",
    version: "1.0.0",
    tables: [
      { table: "users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email", "name"], erase: { strategy: "DELETE" } },
      { table: "invoices", identityColumn: "user_id", identityKind: "userId", category: "PAYMENTS", recordType: "invoice", primaryKey: "id", exportColumns: ["billing_name", "amount_cents", "issued_at"], recordedAtColumn: "issued_at", erase: { strategy: "DELETE" } },
    ],
    provides: [{ kind: "userId", table: "users", column: "id" }],
  };
}

/** The shop's two tables, with the invoices' foreign key acting `action` on a delete of their user. */
function ddl(kind: TestDatabase["kind"], action: Action, extra = "", extraAction: Action = "CASCADE"): string[] {
  if (kind === "sqlite") {
    return [
      `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT)`,
      `CREATE INDEX users_email ON users (email COLLATE NOCASE)`,
      `CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE ${action}, billing_name TEXT, amount_cents INTEGER NOT NULL, issued_at TEXT NOT NULL)`,
      ...(extra ? [`CREATE TABLE ${extra} (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE ${extraAction}, body TEXT)`] : []),
    ];
  }
  if (kind === "mariadb") {
    return [
      `CREATE TABLE users (id INT NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, name VARCHAR(200) NULL, KEY users_email (email)) ENGINE=InnoDB`,
      `CREATE TABLE invoices (id INT NOT NULL PRIMARY KEY, user_id INT NULL, billing_name VARCHAR(200) NULL, amount_cents INT NOT NULL, issued_at DATETIME(3) NOT NULL, KEY invoices_user (user_id), CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE ${action}) ENGINE=InnoDB`,
      ...(extra ? [`CREATE TABLE ${extra} (id INT NOT NULL PRIMARY KEY, user_id INT NULL, body TEXT, CONSTRAINT ${extra}_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE ${extraAction}) ENGINE=InnoDB`] : []),
    ];
  }
  return [
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(320) NOT NULL, name VARCHAR(200))`,
    `CREATE INDEX users_email_lower ON users (lower(email))`,
    `CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE ${action}, billing_name VARCHAR(200), amount_cents INTEGER NOT NULL, issued_at TIMESTAMPTZ(3) NOT NULL)`,
    `CREATE INDEX invoices_user ON invoices (user_id)`,
    ...(extra ? [`CREATE TABLE ${extra} (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE ${extraAction}, body TEXT)`] : []),
  ];
}

describeEachSqlDialect("SQL connector: foreign keys that cascade a delete", (db) => {
  const suite = sqlSuiteHooks(db, ["notes", "order_lines", "orders", "invoices", "users"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;
  const count = async (sql: string, params: unknown[] = []) => Number((await query(sql, params))[0].n);
  const date = (iso: string) => (db().kind === "sqlite" ? iso : new Date(iso));

  /** Creates the tables afresh and seeds Ada (user 1, three invoices: `dates`) and Grace (user 2, one invoice). */
  async function seed(action: Action, dates: readonly string[] = [OLD, ...RECENT], extra = "", extraAction: Action = "CASCADE"): Promise<void> {
    for (const table of ["notes", "invoices", "users"]) await query(`DROP TABLE IF EXISTS ${table}`);
    for (const statement of ddl(db().kind, action, extra, extraAction)) await query(statement);
    await query(`INSERT INTO users (id, email, name) VALUES (1, ?, 'Ada Lovelace'), (2, ?, 'Grace Hopper')`, [ADA, GRACE]);
    for (const [i, at] of dates.entries()) await query(`INSERT INTO invoices (id, user_id, billing_name, amount_cents, issued_at) VALUES (?, 1, 'Ada Lovelace', 1200, ?)`, [i + 1, date(at)]);
    await query(`INSERT INTO invoices (id, user_id, billing_name, amount_cents, issued_at) VALUES (100, 2, 'Grace Hopper', 800, ?)`, [date(RECENT[0])]);
  }

  /** What the tables hold of Ada after the request, counted by the test's own connection. */
  const adaInDatabase = async () => ({
    users: await count(`SELECT COUNT(*) AS n FROM users WHERE id = 1`),
    invoicesOfAda: await count(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = 1`),
    invoicesNamingAda: await count(`SELECT COUNT(*) AS n FROM invoices WHERE billing_name = 'Ada Lovelace'`),
    unlinked: await count(`SELECT COUNT(*) AS n FROM invoices WHERE user_id IS NULL`),
  });
  const line = (request: any, category: string) => request.deletionOutcome.find((l: any) => l.category === category);

  beforeEach(() => {
    connector = createSqlConnector(shopConfig(), { url: db().url, timeoutMs: 5000 });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  const start = async () => (t = await new TestService(suite.serviceDb(), FAST, [connector]).start());

  for (const action of ["CASCADE", "SET NULL", "RESTRICT", "NO ACTION"] as const) {
    it(`keeps the invoices the tax rule keeps, and leaves her user row named residual, when they refer to it ON DELETE ${action}`, async function () {
      this.timeout(60_000);
      await seed(action);
      const t = await start();
      const deletion = await runVerified(t, SHOW, "DELETION", ADA);
      // The database itself: the two recent invoices still there, with her name and still linked to her.
      expect(await adaInDatabase()).to.deep.equal({ users: 1, invoicesOfAda: 2, invoicesNamingAda: 2, unlinked: 0 });
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      expect(line(deletion, "PAYMENTS")).to.include({ plannedToErase: 1, erased: 1, plannedToKeep: 2, kept: 2, matchesPlan: true });
      expect(line(deletion, "ACCOUNT")).to.deep.include({ plannedToErase: 1, erased: 0, residual: 1, matchesPlan: false, differences: [{ kind: "RESIDUAL", records: 1 }] });
      expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordType, e.recordCount])).to.deep.equal([["PAYMENTS", "invoice", 2]]);
      expect(deletion.residualRecords).to.have.length(1);
      expect(deletion.residualRecords[0]).to.include({ connector: "shop-db", recordType: "user", records: 1 });
      expect(deletion.residualRecords[0].fields).to.deep.equal(["email", "name"]);
      expect(deletion.residualRecords[0].reason).to.match(reasonFor(action));
      const { deletionCertificate } = await t.ok(CERTIFICATE, { id: deletion.id }, Role.AUDITOR);
      expect(deletionCertificate.kept.map((k: any) => [k.category, k.recordType, k.records])).to.deep.equal([["PAYMENTS", "invoice", 2]]);
      expect(deletionCertificate.residual.map((r: any) => [r.category, r.recordType, r.records, r.reason])).to.deep.equal([["ACCOUNT", "user", 1, deletion.residualRecords[0].reason]]);
      // Grace untouched.
      expect(await count(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = 2 AND billing_name = 'Grace Hopper'`)).to.equal(1);
      expect(await count(`SELECT COUNT(*) AS n FROM users WHERE id = 2`)).to.equal(1);
    });
  }

  it("deletes her user row by its key once the purge erased the invoices that held it back, and leaves the account she opened since", async function () {
    this.timeout(90_000);
    await seed("CASCADE");
    const t = await start();
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(await adaInDatabase()).to.deep.include({ users: 1, invoicesOfAda: 2 });
    // She signs up again with the same address; then the tax rule's 7 years pass for her kept invoices (the newest from 2025-06-01).
    await query(`INSERT INTO users (id, email, name) VALUES (3, ?, 'Ada again')`, [ADA]);
    t.clock.advance(Date.parse("2032-06-02T00:00:00.000Z") - t.clock.now().getTime());
    const after = await t.waitFor(async () => {
      const x = (await t.ok(`query($id: ID!) { request(id: $id) { tasks { step status lastError } residualRecords { recordType records reason } erasedResidue { connector category recordType records reason erasedAt } retentionExceptions { status } } }`, { id: deletion.id })).request;
      return x.tasks.some((y: any) => y.step === "PURGE" && ["SUCCEEDED", "FAILED"].includes(y.status)) ? x : undefined;
    }, "purge ended", 30_000);
    expect(after.tasks.find((y: any) => y.step === "PURGE")).to.include({ status: "SUCCEEDED" });
    expect(await adaInDatabase()).to.deep.equal({ users: 0, invoicesOfAda: 0, invoicesNamingAda: 0, unlinked: 0 });
    expect(await query(`SELECT id, name FROM users WHERE email = ? ORDER BY id`, [ADA]), "the account opened since stays").to.deep.equal([{ id: 3, name: "Ada again" }]);
    expect(await count(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = 2 AND billing_name = 'Grace Hopper'`)).to.equal(1);
    expect(after.residualRecords).to.deep.equal([]);
    expect(after.erasedResidue.map((r: any) => [r.connector, r.category, r.recordType, r.records])).to.deep.equal([["shop-db", "ACCOUNT", "user", 1]]);
    expect(after.erasedResidue[0].reason).to.match(CASCADE_REASON);
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
    const { deletionCertificate } = await t.ok(CERTIFICATE, { id: deletion.id }, Role.AUDITOR);
    expect(deletionCertificate.residual).to.deep.equal([]);
  });

  it("leaves another person's row alone when her row's key is someone else's by the purge, and names the key residual saying why", async function () {
    this.timeout(90_000);
    await seed("SET NULL");
    const t = await start();
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.residualRecords.map((r: any) => r.recordType)).to.deep.equal(["user"]);
    // Her row is deleted by hand, and its key given to someone else.
    await query(`DELETE FROM users WHERE id = 1`);
    await query(`INSERT INTO users (id, email, name) VALUES (1, 'someone@example.com', 'Someone Else')`);
    t.clock.advance(Date.parse("2032-06-02T00:00:00.000Z") - t.clock.now().getTime());
    const after = await t.waitFor(async () => {
      const x = (await t.ok(`query($id: ID!) { request(id: $id) { tasks { step status } residualRecords { recordType records reason } erasedResidue { recordType records } } }`, { id: deletion.id })).request;
      return x.tasks.some((y: any) => y.step === "PURGE" && ["SUCCEEDED", "FAILED"].includes(y.status)) ? x : undefined;
    }, "purge ended", 30_000);
    expect(await query(`SELECT name FROM users WHERE id = 1`), "the other person's row stays").to.deep.equal([{ name: "Someone Else" }]);
    expect(after.erasedResidue).to.deep.equal([]);
    expect(after.residualRecords).to.deep.equal([{ recordType: "user", records: 1, reason: HELD_BACK_ROW_CHANGED }]);
  });

  it("goes on reporting her user row erased, not residual, when a later purge of another kept set runs", async function () {
    this.timeout(90_000);
    // Her invoices all older than the tax rule, but held; a ticket (not linked to her user row) kept 5 years by the support rule.
    await seed("CASCADE", [OLD, "2016-05-01T00:00:00.000Z"]);
    await query(`DROP TABLE IF EXISTS tickets`);
    await query(`CREATE TABLE tickets (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, body VARCHAR(200), created_at ${db().kind === "postgres" ? "TIMESTAMPTZ" : db().kind === "mariadb" ? "DATETIME(3)" : "TEXT"} NOT NULL)`);
    await query(`INSERT INTO tickets (id, email, body, created_at) VALUES (1, ?, 'about my invoice', ?)`, [ADA, date("2025-01-01T00:00:00.000Z")]);
    const config = shopConfig();
    config.tables.unshift({ table: "tickets", identityColumn: "email", identityKind: "email", category: "SUPPORT", recordType: "ticket", primaryKey: "id", exportColumns: ["body"], recordedAtColumn: "created_at", erase: { strategy: "DELETE" } });
    await connector.close();
    connector = createSqlConnector(config, { url: db().url, timeoutMs: 5000 });
    try {
      const t = await start();
      const hold = (await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", reason: "tax audit", caseReference: "C-43", categories: ["PAYMENTS"] }) { id } }`)).placeLegalHold.id;
      const deletion = await runVerified(t, SHOW, "DELETION", ADA);
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      expect(deletion.residualRecords.map((r: any) => r.recordType)).to.deep.equal(["user"]);
      const afterPurge = (runs: number) =>
        t.waitFor(async () => {
          const x = (await t.ok(`query($id: ID!) { request(id: $id) { tasks { step status } residualRecords { recordType records } erasedResidue { recordType records } auditEvents { action } } }`, { id: deletion.id })).request;
          const scheduled = x.auditEvents.filter((e: any) => e.action === "task.purge_scheduled").length;
          return scheduled >= runs && x.tasks.some((y: any) => y.step === "PURGE" && ["SUCCEEDED", "FAILED"].includes(y.status)) ? x : undefined;
        }, `purge ${runs} ended`, 30_000);
      // The hold is released: its invoices go, and with them her user row.
      await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "audit closed") { status } }`, { id: hold });
      const first = await afterPurge(1);
      expect(first.tasks.find((y: any) => y.step === "PURGE").status).to.equal("SUCCEEDED");
      expect(await adaInDatabase()).to.deep.equal({ users: 0, invoicesOfAda: 0, invoicesNamingAda: 0, unlinked: 0 });
      expect([first.residualRecords, first.erasedResidue]).to.deep.equal([[], [{ recordType: "user", records: 1 }]]);
      // The ticket's 5 years end: a second purge of the request's sets, which meets nothing of her user row.
      t.clock.advance(Date.parse("2030-01-02T00:00:00.000Z") - t.clock.now().getTime());
      const second = await afterPurge(2);
      expect(second.tasks.find((y: any) => y.step === "PURGE").status).to.equal("SUCCEEDED");
      expect(await count(`SELECT COUNT(*) AS n FROM tickets`)).to.equal(0);
      expect([second.residualRecords, second.erasedResidue], "the row erased by the first purge is not residual again").to.deep.equal([[], [{ recordType: "user", records: 1 }]]);
    } finally {
      await query(`DROP TABLE IF EXISTS tickets`);
    }
  });

  it("keeps every invoice a legal hold on PAYMENTS keeps, and her user row with them, when they refer to it ON DELETE CASCADE", async function () {
    this.timeout(60_000);
    await seed("CASCADE");
    const t = await start();
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", reason: "tax audit", caseReference: "C-42", categories: ["PAYMENTS"] }) { id } }`);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(await adaInDatabase()).to.deep.equal({ users: 1, invoicesOfAda: 3, invoicesNamingAda: 3, unlinked: 0 });
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(line(deletion, "PAYMENTS")).to.include({ erased: 0, kept: 3 });
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.holdId !== null])).to.deep.equal([["PAYMENTS", 3, true]]);
    expect(deletion.residualRecords.map((r: any) => [r.recordType, r.records])).to.deep.equal([["user", 1]]);
    expect(deletion.residualRecords[0].reason).to.match(CASCADE_REASON);
  });

  it("erases as before when nothing under her user row stays: every invoice older than the rule", async function () {
    this.timeout(60_000);
    await seed("CASCADE", [OLD, "2016-05-01T00:00:00.000Z"]);
    const t = await start();
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(await adaInDatabase()).to.deep.equal({ users: 0, invoicesOfAda: 0, invoicesNamingAda: 0, unlinked: 0 });
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(line(deletion, "ACCOUNT")).to.include({ erased: 1, residual: 0, matchesPlan: true });
    expect(line(deletion, "PAYMENTS")).to.include({ erased: 2, kept: 0, matchesPlan: true });
    expect(deletion.residualRecords).to.deep.equal([]);
    expect(await count(`SELECT COUNT(*) AS n FROM invoices WHERE user_id = 2`)).to.equal(1);
  });

  describe("a referencing table the configuration does not name", () => {
    for (const action of ["CASCADE", "NO ACTION"] as const) {
      it(`leaves the user row in place, named residual, while rows of it refer to her with ON DELETE ${action}, and check() names the table`, async () => {
        await seed("CASCADE", [OLD], "notes", action);
        await query(`INSERT INTO notes (id, user_id, body) VALUES (1, 1, 'called about her invoice')`);
        const health = await connector.check(testContext());
        expect(health.ok).to.equal(false);
        expect(health.message).to.include(`table notes (not in the configuration) refers to users with ON DELETE ${action}`);
        expect(health.message).not.to.include("called about");
        const outcome = await connector.erase({ email: ADA }, { categories: ["ACCOUNT", "PAYMENTS"] }, testContext());
        expect(outcome.erasedIn).to.deep.equal({ PAYMENTS: 1, ACCOUNT: 0 });
        expect(outcome.residual?.map((r) => [r.category, r.type, r.count])).to.deep.equal([["ACCOUNT", "user", 1]]);
        expect(outcome.residual?.[0].reason).to.include(`rows of table notes, which the connector configuration does not name, refer to it with ON DELETE ${action}`);
        expect({ users: await count(`SELECT COUNT(*) AS n FROM users WHERE id = 1`), notes: await count(`SELECT COUNT(*) AS n FROM notes`) }).to.deep.equal({ users: 1, notes: 1 });
      });
    }
  });

  it("check() names a configured table erased after the table it cascades from, and the erasure leaves that table's rows named residual", async () => {
    await seed("CASCADE");
    for (const table of ["order_lines", "orders"]) await query(`DROP TABLE IF EXISTS ${table}`);
    await query(`CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL)`);
    const fk = db().kind === "mariadb" ? ", CONSTRAINT order_lines_fk FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE" : "";
    await query(`CREATE TABLE order_lines (id INTEGER NOT NULL PRIMARY KEY, order_id INTEGER ${fk ? "" : "REFERENCES orders (id) ON DELETE CASCADE"}, email VARCHAR(320) NOT NULL, item VARCHAR(100)${fk})`);
    await query(`INSERT INTO orders (id, email) VALUES (1, ?)`, [ADA]);
    await query(`INSERT INTO order_lines (id, order_id, email, item) VALUES (1, 1, ?, 'tea'), (2, 1, ?, 'cake')`, [ADA, ADA]);
    const byEmail = (table: string, recordType: string, exportColumns: string[]) =>
      ({ table, identityColumn: "email", identityKind: "email", category: "PAYMENTS", recordType, primaryKey: "id", exportColumns, erase: { strategy: "DELETE" } }) as const;
    // Listed parent first: the lines would still be there when the order is erased.
    const shop = createSqlConnector({ name: "orders-db", version: "1.0.0", tables: [byEmail("orders", "order", ["email"]), byEmail("order_lines", "order_line", ["item"])] }, { url: db().url, timeoutMs: 5000 });
    try {
      const health = await shop.check(testContext());
      expect(health).to.include({ ok: false });
      expect(health.message).to.include("table order_lines refers to orders with ON DELETE CASCADE but is erased after it: list it before orders in tables");
      const outcome = await shop.erase({ email: ADA }, { categories: ["PAYMENTS"] }, testContext());
      expect(outcome.erased).to.equal(2);
      expect(outcome.residual?.map((r) => [r.type, r.count])).to.deep.equal([["order", 1]]);
      expect({ orders: await count(`SELECT COUNT(*) AS n FROM orders`), lines: await count(`SELECT COUNT(*) AS n FROM order_lines`) }).to.deep.equal({ orders: 1, lines: 0 });
      // Run again (as the closing pass does), nothing refers to the order any more: it goes.
      expect(await shop.erase({ email: ADA }, { categories: ["PAYMENTS"] }, testContext())).to.deep.include({ erased: 1 });
      expect(await count(`SELECT COUNT(*) AS n FROM orders`)).to.equal(0);
    } finally {
      await shop.close();
      for (const table of ["order_lines", "orders"]) await query(`DROP TABLE IF EXISTS ${table}`);
    }
  });

  it("leaves the user row's customer id in place while kept invoices refer to it ON UPDATE CASCADE, when users is anonymised", async () => {
    for (const table of ["notes", "invoices", "users"]) await query(`DROP TABLE IF EXISTS ${table}`);
    const fk = db().kind === "mariadb" ? ", CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_ref) REFERENCES users (customer_ref) ON UPDATE CASCADE" : "";
    await query(`CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320), name VARCHAR(200), customer_ref VARCHAR(64) UNIQUE)`);
    await query(
      `CREATE TABLE invoices (id INTEGER NOT NULL PRIMARY KEY, customer_ref VARCHAR(64) ${fk ? "" : "REFERENCES users (customer_ref) ON UPDATE CASCADE"}, billing_name VARCHAR(200), amount_cents INTEGER NOT NULL, issued_at ${db().kind === "postgres" ? "TIMESTAMPTZ" : db().kind === "mariadb" ? "DATETIME(3)" : "TEXT"} NOT NULL${fk})`,
    );
    await query(`INSERT INTO users (id, email, name, customer_ref) VALUES (1, ?, 'Ada Lovelace', 'cus_ada')`, [ADA]);
    await query(`INSERT INTO invoices (id, customer_ref, billing_name, amount_cents, issued_at) VALUES (1, 'cus_ada', 'Ada Lovelace', 1200, ?)`, [date(RECENT[1])]);
    const config = shopConfig();
    config.tables[0].erase = { strategy: "ANONYMIZE", columns: { email: null, name: null, customer_ref: null } };
    config.tables[1] = { ...config.tables[1], identityColumn: "customer_ref", identityKind: "paymentCustomerId" };
    config.provides = [{ kind: "paymentCustomerId", table: "users", column: "customer_ref" }];
    const anonymising = createSqlConnector(config, { url: db().url, timeoutMs: 5000 });
    try {
      const outcome = await anonymising.erase({ email: ADA }, { categories: ["ACCOUNT", "PAYMENTS"], keepRecordedSince: { PAYMENTS: new Date("2019-03-02T00:00:00.000Z") } }, testContext());
      expect(outcome.erased).to.equal(0);
      expect(outcome.residual?.map((r) => [r.type, r.count])).to.deep.equal([["user", 1]]);
      expect(outcome.residual?.[0].reason).to.match(/^rows of table invoices that stay refer to it with ON UPDATE CASCADE/);
      expect(await count(`SELECT COUNT(*) AS n FROM invoices WHERE customer_ref = 'cus_ada' AND billing_name = 'Ada Lovelace'`)).to.equal(1);
    } finally {
      await anonymising.close();
    }
  });

  it("keeps her user row, named residual, when an invoice that refers to it is written between the look and the DELETE", async () => {
    await seed("CASCADE", [OLD]);
    // The connector on the test's own DataSource, with a new invoice written just before users' DELETE runs.
    let written = false;
    const ds = suite.ds();
    const create = ds.createQueryRunner.bind(ds);
    ds.createQueryRunner = (...args: Parameters<DataSource["createQueryRunner"]>) => {
      const runner = create(...args);
      const run = runner.query.bind(runner);
      runner.query = (async (sql: string, params?: unknown[], structured?: boolean) => {
        if (!written && /^DELETE FROM .users./.test(sql)) {
          written = true;
          await run(db().kind === "postgres" ? numberedParameters("INSERT INTO invoices (id, user_id, billing_name, amount_cents, issued_at) VALUES (50, 1, 'Ada Lovelace', 990, ?)") : "INSERT INTO invoices (id, user_id, billing_name, amount_cents, issued_at) VALUES (50, 1, 'Ada Lovelace', 990, ?)", [date(RECENT[1])]);
        }
        return run(sql, params, structured as true);
      }) as typeof runner.query;
      return runner;
    };
    const racing = createSqlConnector(shopConfig(), { dataSource: ds });
    try {
      const outcome = await racing.erase({ email: ADA }, { categories: ["ACCOUNT", "PAYMENTS"], keepRecordedSince: { PAYMENTS: new Date("2019-03-02T00:00:00.000Z") } }, testContext());
      expect(written).to.equal(true);
      expect(outcome.erasedIn).to.deep.equal({ PAYMENTS: 1, ACCOUNT: 0 });
      expect(outcome.residual?.map((r) => [r.type, r.count])).to.deep.equal([["user", 1]]);
      expect({ users: await count(`SELECT COUNT(*) AS n FROM users WHERE id = 1`), invoice: await count(`SELECT COUNT(*) AS n FROM invoices WHERE id = 50 AND user_id = 1`) }).to.deep.equal({ users: 1, invoice: 1 });
    } finally {
      ds.createQueryRunner = create;
      await racing.close();
    }
  });

  it("check() names an anonymised table that keeps the column referring to a row erasure deletes", async () => {
    await seed("CASCADE");
    const config = shopConfig();
    // Found by user id, the identity column must be overwritten: the configuration rule already asks for null there.
    config.tables[1].erase = { strategy: "ANONYMIZE", columns: { user_id: null, billing_name: null }, keep: ["amount_cents", "issued_at"] };
    const unlinking = createSqlConnector(config, { url: db().url, timeoutMs: 5000 });
    // Found by another column, keeping user_id: every anonymised invoice would still refer to her user row.
    await query(`ALTER TABLE invoices ADD COLUMN ref VARCHAR(64)`);
    config.tables[1] = { ...config.tables[1], identityColumn: "ref", identityKind: "external:billing", erase: { strategy: "ANONYMIZE", columns: { ref: null, billing_name: null }, keep: ["amount_cents", "issued_at"] } };
    const keeping = createSqlConnector(config, { url: db().url, timeoutMs: 5000 });
    try {
      expect(await unlinking.check(testContext())).to.include({ ok: true });
      const health = await keeping.check(testContext());
      expect(health).to.include({ ok: false });
      expect(health.message).to.include("table invoices is anonymised but keeps user_id, which refers to users with ON DELETE CASCADE: its anonymised rows would keep the person's users row in place; overwrite user_id with null in erase.columns");
    } finally {
      await unlinking.close();
      await keeping.close();
    }
  });

  it("check() passes once every table that cascades from a configured one is configured too", async () => {
    await seed("CASCADE");
    const config = shopConfig();
    await query(`DROP TABLE IF EXISTS notes`);
    for (const statement of ddl(db().kind, "CASCADE", "notes")) if (/CREATE TABLE notes/.test(statement)) await query(statement);
    config.tables.push({ table: "notes", identityColumn: "user_id", identityKind: "userId", category: "SUPPORT", recordType: "note", primaryKey: "id", exportColumns: ["body"], erase: { strategy: "DELETE" } });
    const ok = createSqlConnector(config, { url: db().url, timeoutMs: 5000 });
    try {
      expect(await ok.check(testContext())).to.include({ ok: true });
    } finally {
      await ok.close();
    }
  });
});
