// The complete example of docs/connectors.md ("Run the conformance suite"); keep the two identical.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataSource } from "typeorm";
import { createSqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import { describeConnectorConformance } from "../../src/connectors/testing/conformance";

const config: SqlConnectorConfig = {
  name: "crm",
  version: "1.0.0",
  tables: [
    {
      table: "contacts",
      identityColumn: "email",
      identityKind: "email",
      category: "ACCOUNT",
      recordType: "contact",
      primaryKey: "id",
      exportColumns: ["email", "full_name", "created_at"],
      recordedAtColumn: "created_at",
      erase: { strategy: "DELETE" },
    },
  ],
};

describeConnectorConformance("crm", async () => {
  // A fresh database per test: the erase tests change it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-"));
  const file = path.join(dir, "crm.sqlite");
  const seed = new DataSource({ type: "better-sqlite3", database: file });
  await seed.initialize();
  await seed.query(`CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT, created_at TEXT NOT NULL)`);
  // Emails are matched case-insensitively: the index is in NOCASE order so the match can use it.
  await seed.query(`CREATE INDEX contacts_email ON contacts (email COLLATE NOCASE)`);
  await seed.query(
    `INSERT INTO contacts (email, full_name, created_at) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)`,
    ["ada@example.com", "Ada", "2024-01-02T10:00:00Z", "ada@example.com", "Ada L.", "2024-03-04T10:00:00Z", "grace@example.com", "Grace", "2024-05-06T10:00:00Z", "Zoe+dsr@Example.COM", "Zoë", "2024-07-08T10:00:00Z"],
  );
  await seed.destroy();

  const connector = createSqlConnector(config, { url: `sqlite:${file}` });
  const broken = structuredClone(config);
  broken.tables[0].exportColumns.push("no_such_column");
  const badConnector = createSqlConnector(broken, { url: `sqlite:${file}` });
  return {
    connector,
    badConnector,
    subject: { email: "ada@example.com" },
    otherSubject: { email: "grace@example.com" },
    mixedCaseSubject: { email: "zoe+dsr@example.com" },
    expectedRecordCount: 2,
    teardown: async () => {
      await connector.close();
      await badConnector.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
