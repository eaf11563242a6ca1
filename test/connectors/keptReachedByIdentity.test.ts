import { expect } from "chai";
import { createMariadbDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { ADA, GRACE, T0 } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const DAY = 86_400_000;
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason closedAt
  tasks { connector step status lastError outcome { erased kept residual } }
  deletionOutcome { connector category plannedToKeep erased kept matchesPlan differences { kind records reason } }
  retentionExceptions { connector category recordType recordCount retainUntil status } } }`;
const PREVIEW = `mutation($input: PreviewDeletionInput!) { previewDeletion(input: $input) {
  earlierDeletions { requestId kept { connector category recordCount } lines { connector category found toKeep } } } }`;

/**
 * A deletion with the account database as the only connector. Her invoices are found by the payment
 * customer id her users row holds, and kept 7 years; the request carries only her address, and nothing
 * else needed that id, so no look-up of her other identities ran before the erasure. The verification
 * after it (and the purge 7 years on) could no longer reach the invoices through the deleted users row:
 * the outcome said kept 0, "3 records of the plan were no longer there", no exception was written, the
 * request COMPLETED, and the 3 invoices stayed in the database with nothing to purge them.
 */
describeEachDatabase("a deletion keeps records reached through an identity its erasure removes", (db) => {
  let service: AccountDbService | undefined;
  let accountDb: TestDatabase | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    await accountDb?.drop();
    accountDb = undefined;
  });

  const start = async () => {
    accountDb = db().kind === "mariadb" ? await createMariadbDatabase() : undefined;
    service = await accountDbService(db(), undefined, accountDb);
    return service;
  };
  /** Ada's invoices still holding her billing details, as the database's own connection reads them. */
  const adaInvoices = (s: AccountDbService) => s.account.count("invoices", "customer_ref = ? AND billing_name IS NOT NULL", [ADA.paymentCustomerId]);
  const graceInvoices = (s: AccountDbService) => s.account.count("invoices", "customer_ref = ? AND billing_name IS NOT NULL", [GRACE.paymentCustomerId]);

  it("records an exception for the 3 invoices it kept, until 7 years after the newest", async () => {
    const s = await start();
    const done = await s.run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    // The database's own rows: the account, its factors and sessions are gone; her 3 invoices are kept whole.
    expect(await s.account.count("users", "email = ?", [ADA.email])).to.equal(0);
    expect(await s.account.count("sessions", "user_id = 1")).to.equal(0);
    expect(await s.account.count("mfa_factors", "user_id = 1")).to.equal(0);
    expect(await adaInvoices(s)).to.equal(3);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const payments = done.deletionOutcome.find((l: any) => l.category === "PAYMENTS");
    expect(payments, JSON.stringify(done.deletionOutcome)).to.deep.include({ plannedToKeep: 3, kept: 3, matchesPlan: true, differences: [] });
    // What it kept is what the database holds: 3 invoices, until 7 years after the newest (2025-01-15).
    expect(done.retentionExceptions.map((e: any) => [e.connector, e.category, e.recordType, e.recordCount, e.status])).to.deep.equal([["account-db", "PAYMENTS", "invoice", 3, "OPEN"]]);
    expect(done.retentionExceptions[0].retainUntil).to.match(/^2032-01-15/);
  });

  it("is named by a deletion preview afterwards, with the 3 invoices the database still holds under it", async () => {
    const s = await start();
    const done = await s.run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await adaInvoices(s)).to.equal(3);
    const { previewDeletion } = await s.t.ok(PREVIEW, { input: { subject: { email: ADA.email } } });
    expect(previewDeletion.earlierDeletions.map((e: any) => e.requestId)).to.deep.equal([done.id]);
    const [earlier] = previewDeletion.earlierDeletions;
    expect(earlier.kept.map((k: any) => [k.connector, k.category, k.recordCount])).to.deep.equal([["account-db", "PAYMENTS", 3]]);
    expect(earlier.lines.map((l: any) => [l.connector, l.category, l.found, l.toKeep])).to.deep.equal([["account-db", "PAYMENTS", 3, 3]]);
  });

  it("purges the kept invoices when their period ends, and counts them", async () => {
    const s = await start();
    const done = await s.run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await adaInvoices(s)).to.equal(3);
    // Past 2032-01-15 (the test clock starts 2026-03-02).
    s.t.clock.advance(6 * 365 * DAY);
    const purged = await s.t.purgeEnded(SHOW, done.id);
    const purge = purged.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    // The database's own rows: her invoices hold nothing of hers any more; Grace's are untouched.
    expect(await adaInvoices(s)).to.equal(0);
    expect(await s.account.count("invoices", "billing_name = ?", ["Ada Lovelace"])).to.equal(0);
    expect(await graceInvoices(s)).to.equal(2);
    expect(purge.outcome.erased).to.equal(3);
    const after = (await s.t.ok(SHOW, { id: done.id })).request;
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
  });

  it("purges the kept invoices after she signed up again with the address, and leaves the new account and its invoice", async () => {
    const s = await start();
    const done = await s.run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // A new account under the same address, with a new payment customer and an invoice of it.
    const at = s.account.date(new Date("2026-04-01T00:00:00.000Z"));
    await s.account.rows(`INSERT INTO users (id, email, name, payment_customer_id, created_at) VALUES (8, ?, 'Ada again', 'cus_ada_0008', ?)`, [ADA.email, at]);
    await s.account.rows(`INSERT INTO invoices (id, customer_ref, billing_name, billing_address, amount_cents, issued_at) VALUES ('in_ada_new', 'cus_ada_0008', 'Ada Lovelace', 'Ockham Park', 700, ?)`, [at]);
    s.t.clock.advance(6 * 365 * DAY);
    const purged = await s.t.purgeEnded(SHOW, done.id);
    const purge = purged.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(purge.outcome.erased).to.equal(3);
    // The database's own rows: the 3 kept invoices hold nothing of hers; the new account and its invoice stay.
    expect(await adaInvoices(s)).to.equal(0);
    expect(await s.account.rows(`SELECT id FROM invoices WHERE billing_name = 'Ada Lovelace' ORDER BY id`)).to.deep.equal([{ id: "in_ada_new" }]);
    expect(await s.account.count("users", "id = 8 AND email = ?", [ADA.email])).to.equal(1);
    expect(await graceInvoices(s)).to.equal(2);
  });

  it("stops at the account database's RESOLVE, erasing nothing, when two accounts under the address keep invoices of two customers", async () => {
    // A SQLite account database on either service database: its unique index on email tells letter case apart, as twoAccounts.test.ts's does.
    const s = (service = await accountDbService(db()));
    await s.account.rows(`INSERT INTO users (id, email, name, payment_customer_id, created_at) VALUES (99, 'ADA.LOVELACE@EXAMPLE.COM', 'Ada', 'cus_ada_0099', ?)`, [s.account.date(T0)]);
    await s.account.rows(`INSERT INTO invoices (id, customer_ref, billing_name, billing_address, amount_cents, issued_at) VALUES ('in_ada_099', 'cus_ada_0099', 'Ada Lovelace', 'Ockham Park', 700, ?)`, [s.account.date(T0)]);
    const done = await s.run({ type: "DELETION", subject: { email: ADA.email } }, SHOW);
    // Before, both accounts were erased and the invoices of both customers kept with no exception (kept 0, COMPLETED).
    expect(done.status).to.equal("FAILED");
    const resolve = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RESOLVE");
    expect(resolve.lastError).to.match(/^account-db: the subject has 2 values of (userId|paymentCustomerId) here \(more than one account\?\)/);
    expect(done.tasks.filter((x: any) => x.step === "ERASE" && x.status === "SUCCEEDED")).to.deep.equal([]);
    // The database's own rows: both accounts and every invoice as they were.
    expect(await s.account.count("users", "id IN (1, 99)")).to.equal(2);
    expect(await s.account.count("sessions", "user_id = 1")).to.be.greaterThan(0);
    expect(await s.account.count("invoices", "customer_ref IN (?, 'cus_ada_0099') AND billing_name IS NOT NULL", [ADA.paymentCustomerId])).to.equal(4);
  });
});
