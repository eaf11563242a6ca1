import { expect } from "chai";
import { DataSource } from "typeorm";
import { hashedEmailKey, normalizeEmail } from "../../src/domain/identities";
import { LegalHoldRow } from "../../src/entities";
import { migrated } from "../support/migrated";
import { MIGRATIONS } from "../../src/migrations";
import { activeHoldsFor } from "../../src/queries/legalHoldFinder";
import { describeEachDatabase } from "../support/databases";

const NEW = MIGRATIONS.findIndex((m) => new m().name === "SubjectIdentities1764500000000");
const IDN = MIGRATIONS.findIndex((m) => new m().name === "EmailDomainForm1765300000000");

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
    ds = await migrated(db(), NEW);
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

    ds = await migrated(db(), NEW + 1);
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

/**
 * The EmailDomainForm migration on a database used before it: emails stored in the previous matching
 * form (the domain as typed) are rewritten into the one form, wherever the service matches by them.
 */
describeEachDatabase("EmailDomainForm migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  it("rewrites emails stored with an ASCII (xn--) domain into the one matching form, so holds placed before the upgrade keep requests made in either spelling", async () => {
    ds = await migrated(db(), IDN);
    const now = "2026-01-01 00:00:00.000";
    // Stored by the previous normalization (lower case, the domain as typed).
    const stored = { ada: "ada@xn--bcher-kva.de", bjorn: "björn@bücher.de", grace: "grace@example.com", oddity: "ada@xn--zz.de" };
    const requests = [
      ["00000000-0000-4000-8000-000000000001", stored.ada],
      ["00000000-0000-4000-8000-000000000002", stored.bjorn],
      ["00000000-0000-4000-8000-000000000003", stored.grace],
      ["00000000-0000-4000-8000-000000000004", stored.oddity],
    ];
    for (const [id, email] of requests) {
      await ds.query(
        `INSERT INTO requests (id, type, status, source, subjectEmail, subjectEmailAsTyped, receivedAt, dueAt, extendedDays, verificationAttempts, submittedBy, updatedAt, version, concernsMinor)
         VALUES (?, 'DELETION', 'IN_PROGRESS', 'ADMIN', ?, ?, ?, ?, 0, 0, 'token', ?, 0, 0)`,
        [id, email, email.toUpperCase(), now, now, now],
      );
      await ds.query(`INSERT INTO request_identities (requestId, kind, value, source) VALUES (?, 'email', ?, 'request'), (?, 'userId', 'xn--kept-as-is', 'request')`, [id, email, id]);
    }
    const hold = (id: string, email: string) =>
      ds.query(`INSERT INTO legal_holds (id, subjectEmail, categories, reason, caseReference, status, placedBy, placedAt) VALUES (?, ?, 'SUPPORT', 'dispute', 'CASE-1', 'ACTIVE', 'officer', ?)`, [id, email, now]);
    await hold("10000000-0000-4000-8000-000000000001", stored.ada);
    await hold("10000000-0000-4000-8000-000000000002", stored.grace);
    await hold("10000000-0000-4000-8000-000000000003", "cara@xn--bcher-kva.de");
    // A unit of erasure under way and fence rows keyed by hashes of the old forms; Ada has a row under her new form too.
    const [oldKey, newKey] = [hashedEmailKey(stored.ada), hashedEmailKey("ada@bücher.de")];
    await ds.query(`INSERT INTO erasure_units (id, subjectKey, taskId, requestId, connector, categories, note, startedAt, expiresAt) VALUES ('u1', ?, 't1', ?, 'tickets', 'SUPPORT', NULL, ?, ?)`, [oldKey, requests[0][0], now, now]);
    await ds.query(`INSERT INTO erasure_fences (subjectKey, placingCategories, placingUntil, updatedAt) VALUES (?, NULL, NULL, ?), (?, NULL, NULL, ?), (?, NULL, NULL, ?), (?, NULL, NULL, ?)`, [
      oldKey, now, newKey, now, hashedEmailKey("cara@xn--bcher-kva.de"), now, hashedEmailKey(stored.bjorn), now,
    ]);
    await ds.destroy();

    // It and every later migration: some reads below go through today's entities (activeHoldsFor).
    ds = await migrated(db(), MIGRATIONS.length);
    const emails = (await ds.query(`SELECT subjectEmail, subjectEmailAsTyped FROM requests ORDER BY id`)) as { subjectEmail: string; subjectEmailAsTyped: string }[];
    expect(emails.map((r) => r.subjectEmail)).to.deep.equal(["ada@bücher.de", "björn@bücher.de", "grace@example.com", "ada@xn--zz.de"]);
    // The typed form is the person's, kept as it was.
    expect(emails[0].subjectEmailAsTyped).to.equal("ADA@XN--BCHER-KVA.DE");
    const identities = (await ds.query(`SELECT kind, value FROM request_identities ORDER BY requestId, kind`)) as { kind: string; value: string }[];
    expect(identities.filter((r) => r.kind === "email").map((r) => r.value)).to.deep.equal(["ada@bücher.de", "björn@bücher.de", "grace@example.com", "ada@xn--zz.de"]);
    expect(identities.filter((r) => r.kind === "userId").map((r) => r.value)).to.deep.equal(Array(4).fill("xn--kept-as-is"));
    // The hold placed under Ada's ASCII spelling now holds a request for either spelling.
    for (const spelling of ["ada@bücher.de", "ADA@XN--BCHER-KVA.DE"]) {
      expect((await activeHoldsFor(ds.manager, spelling)).map((h: { id: string }) => h.id), spelling).to.deep.equal(["10000000-0000-4000-8000-000000000001"]);
    }
    expect((await ds.getRepository(LegalHoldRow).find({ order: { id: "ASC" } })).map((h) => h.subjectEmail)).to.deep.equal(["ada@bücher.de", "grace@example.com", "cara@bücher.de"]);
    expect(normalizeEmail(stored.ada)).to.equal("ada@bücher.de");
    // The fence keys moved with the address: the unit under way, and the fence rows (one per subject: Ada's old one was a leftover).
    expect((await ds.query(`SELECT subjectKey FROM erasure_units`)).map((r: any) => r.subjectKey)).to.deep.equal([newKey]);
    const fences = (await ds.query(`SELECT subjectKey FROM erasure_fences`)).map((r: any) => r.subjectKey).sort();
    expect(fences).to.deep.equal([newKey, hashedEmailKey("cara@bücher.de"), hashedEmailKey(stored.bjorn)].sort());
  });
});
