import { expect } from "chai";
import { DataSource } from "typeorm";
import { dataSourceOptions } from "../../src/db/dataSource";
import { MIGRATIONS } from "../../src/migrations";
import { describeEachDatabase } from "../support/databases";

const NEW = MIGRATIONS.findIndex((m) => new m().name === "SubjectIdentities1764500000000");

/**
 * The SubjectIdentities migration on a database used before it: a request planned when external ids
 * shared the identity map (system "email" had overwritten the email) gets its identities rebuilt, in
 * their own namespace; identities resolvers found stay.
 */
describeEachDatabase("SubjectIdentities migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  it("rebuilds the identities of requests planned before external ids had their own namespace", async () => {
    const url = db().url;
    const database = url.startsWith("sqlite:") ? { kind: "sqlite" as const, file: url.slice("sqlite:".length) } : { kind: "mysql" as const, url };
    const options = dataSourceOptions({ database });
    ds = new DataSource({ ...options, migrations: MIGRATIONS.slice(0, NEW) });
    await ds.initialize();
    await ds.runMigrations();
    const now = "2026-01-01 00:00:00.000";
    await ds.query(
      `INSERT INTO requests (id, type, status, source, subjectEmail, subjectUserId, subjectPhone, subjectExternalIds, receivedAt, dueAt, extendedDays, verificationAttempts, submittedBy, updatedAt, version, concernsMinor)
       VALUES (?, 'ACCESS', 'IN_PROGRESS', 'ADMIN', 'mallory@example.org', NULL, NULL, ?, ?, ?, 0, 0, 'token', ?, 0, 0)`,
      ["00000000-0000-4000-8000-000000000001", JSON.stringify([{ system: "email", id: "ada@example.com" }, { system: "crm", id: "c-1" }]), now, now, now],
    );
    for (const [kind, value, source] of [
      ["email", "ada@example.com", "request"],
      ["crm", "c-1", "request"],
      ["userId", "usr_00000", "account-db"],
    ]) {
      await ds.query(`INSERT INTO request_identities (requestId, kind, value, source) VALUES (?, ?, ?, ?)`, ["00000000-0000-4000-8000-000000000001", kind, value, source]);
    }
    await ds.destroy();

    ds = new DataSource({ ...options, migrations: MIGRATIONS.slice(0, NEW + 1) });
    await ds.initialize();
    await ds.runMigrations();
    const rows = await ds.query(`SELECT kind, value, source FROM request_identities ORDER BY kind`);
    expect(rows.map((r: any) => `${r.kind}=${r.value} (${r.source})`)).to.deep.equal([
      "email=mallory@example.org (request)",
      "external:crm=c-1 (request)",
      "external:email=ada@example.com (request)",
      "userId=usr_00000 (account-db)",
    ]);
    const [request] = await ds.query(`SELECT subjectEmailAsTyped FROM requests`);
    expect(request.subjectEmailAsTyped).to.equal(null);
    // And back down: the external ids go (the older code cannot read them), the rest stays.
    await ds.undoLastMigration();
    expect((await ds.query(`SELECT kind FROM request_identities ORDER BY kind`)).map((r: any) => r.kind)).to.deep.equal(["email", "userId"]);
  });
});
