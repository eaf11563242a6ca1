import { expect } from "chai";
import type { DataSource } from "typeorm";
import { ConnectorError, type Connector, type LookedUpRecord, type RecordRef } from "../src/connectors/sdk";
import { createSqlConnector, type SqlConnector } from "../src/connectors/sql";
import { createSqliteDatabase, describeEachDatabase, type TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { columnsHolding } from "./support/residue";
import { runVerified } from "./identity/support";
import { testDataSource } from "./connectors/support/accountDb";

const ADA = "ada.lovelace@example.com";
/** How her system stores her address: as the primary key of her contact row, in its own spelling. */
const STORED = "Ada.Lovelace@Example.COM";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { id step status lastError } } }`;

/** The columns that still hold her address after an access and a deletion: each named in the report, none of them a record id's. */
const KNOWN_CLEAR = ["request_identities.value", "requests.subjectEmail", "requests.subjectEmailAsTyped"];

/**
 * Invariant 7 on the service's own database: a person whose system keys her records by her address (an
 * SQL table whose primary key is her email). An ACCESS collects them, then a DELETION surveys them and
 * its erasure fails (the system refuses), so what the survey stored for the verification pass stays
 * until the grace ends. Every table is then searched for her address. The survey's record ids
 * (surveyed_records.recordId) used to hold it in the clear; they are encrypted now.
 */
describeEachDatabase("personal data at rest in the service's database", (db) => {
  let accounts: TestDatabase;
  let own: DataSource;
  let connector: SqlConnector;
  let t: TestService | undefined;
  /** Whether her system refuses the erasure (the deletion then fails, and what its survey stored is kept for a retry). */
  let refuse: boolean;
  /** The ids each look-up was asked for. */
  let lookedUp: string[][];

  /**
   * Her system, which looks contacts up by their key (so the survey stores their ids for the
   * verification pass) and erases them unless it refuses.
   */
  const contacts = (): Connector =>
    Object.assign(Object.create(connector) as Connector, {
      async *lookup(refs: readonly RecordRef[]): AsyncIterable<LookedUpRecord> {
        lookedUp.push(refs.map((r) => r.id));
        for (const ref of refs) {
          if ((await own.query(`SELECT email FROM contacts WHERE email = ?`, [ref.id])).length) yield { ...ref, personalFields: ["email", "name"] };
        }
      },
      erase: (...args: Parameters<NonNullable<Connector["erase"]>>) => {
        if (refuse) throw new ConnectorError("The contacts system refused the erasure", "refused (test)", false);
        return connector.erase!(...args);
      },
    });

  /** A deletion of hers whose erasure her system refused: FAILED, its surveyed ids kept for a retry. */
  async function refusedDeletion(): Promise<any> {
    refuse = true;
    const deletion = await runVerified(t!, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("FAILED");
    return deletion;
  }

  /** Retries the deletion's ERASE and reads it once it ended. */
  async function retried(deletion: any): Promise<any> {
    const erase = deletion.tasks.find((x: any) => x.step === "ERASE");
    await t!.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: erase.id });
    return t!.waitFor(
      async () => {
        const { request } = await t!.ok(SHOW, { id: deletion.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "the retried deletion ended",
      60_000,
    );
  }

  beforeEach(async () => {
    lookedUp = [];
    accounts = await createSqliteDatabase();
    own = await testDataSource(accounts).initialize();
    await own.query(`CREATE TABLE contacts (email VARCHAR(320) NOT NULL PRIMARY KEY, name VARCHAR(80) NOT NULL)`);
    await own.query(`INSERT INTO contacts (email, name) VALUES (?, 'Ada'), ('grace.hopper@example.com', 'Grace')`, [STORED]);
    connector = createSqlConnector(
      {
        name: "contacts-db",
        version: "1.0.0",
        tables: [{ table: "contacts", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "contact", primaryKey: "email", exportColumns: ["email", "name"], erase: { strategy: "DELETE" } }],
      },
      { url: accounts.url, timeoutMs: 10_000 },
    );
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
    await own.destroy();
    await accounts.drop();
  });

  it("keeps no record id of hers in the clear after an access and a deletion whose erasure failed", async function () {
    this.timeout(180_000);
    t = await new TestService(db(), FAST, [contacts()]).start();
    const access = await runVerified(t, SHOW, "ACCESS", ADA);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const deletion = await refusedDeletion();

    // What the survey stored for the verification pass is there, encrypted.
    const surveyed = await t.ds.query(`SELECT records, payload FROM surveyed_ids WHERE requestId = ?`, [deletion.id]);
    expect(surveyed.map((r: { records: number }) => Number(r.records)), "ids kept for a retry, per batch").to.deep.equal([1]);
    const found = await columnsHolding(t.ds, [ADA]);
    expect(found.filter((c) => !KNOWN_CLEAR.includes(c)), "columns holding her address in the clear").to.deep.equal([]);
    // Those that do are the request's own identities, kept for its purpose and purged after it.
    expect(found).to.deep.equal(KNOWN_CLEAR);
    // Her own system still holds her contact (the erasure failed), so the test's needle is the right one.
    expect((await own.query(`SELECT email FROM contacts WHERE email = ?`, [STORED])).length).to.equal(1);
  });

  it("verifies a retried erasure by the ids read back from the encrypted batches, and removes them with it", async function () {
    this.timeout(180_000);
    t = await new TestService(db(), FAST, [contacts()]).start();
    const deletion = await refusedDeletion();
    refuse = false;
    lookedUp = [];
    const after = await retried(deletion);
    expect(after.status, after.statusReason).to.equal("COMPLETED");
    // Her contact was erased, so the verification collected nothing: it looked her key up, as the survey stored it.
    expect(lookedUp).to.deep.equal([[STORED]]);
    expect((await own.query(`SELECT email FROM contacts ORDER BY email`)).map((r: any) => r.email)).to.deep.equal(["grace.hopper@example.com"]);
    expect(await t.ds.query(`SELECT id FROM surveyed_ids WHERE requestId = ?`, [deletion.id]), "their purpose ended with the erasure").to.deep.equal([]);
  });

  it("fails a retried erasure loudly, looking nothing up, when its surveyed ids were altered at rest", async function () {
    this.timeout(180_000);
    t = await new TestService(db(), FAST, [contacts()]).start();
    const deletion = await refusedDeletion();
    const [batch] = await t.ds.query(`SELECT id, payload FROM surveyed_ids WHERE requestId = ?`, [deletion.id]);
    const payload = Buffer.from(batch.payload);
    payload[payload.length - 20] ^= 1;
    await t.ds.query(`UPDATE surveyed_ids SET payload = ? WHERE id = ?`, [payload, batch.id]);
    refuse = false;
    lookedUp = [];
    const after = await retried(deletion);
    expect(after.status).to.equal("FAILED");
    expect(after.tasks.find((x: any) => x.step === "ERASE").lastError).to.match(/could not be read back/);
    expect(lookedUp, "no look-up by ids it cannot trust").to.deep.equal([]);
  });
});
