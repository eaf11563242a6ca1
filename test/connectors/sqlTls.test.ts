import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import mysql from "mysql2/promise";
import { ConnectorConfigError } from "../../src/connectors/sdk";
import { createSqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { loadConnectorsFile } from "../../src/orchestrator/connectorsFile";
import { POSTGRES_URL, REQUIRE_MYSQL, tempDir } from "../support/databases";
import { TlsMariadb } from "../support/tlsMariadb";

/** One table of people, found by email. */
const CONFIG = (): SqlConnectorConfig => ({
  name: "account-db",
  version: "1.0.0",
  tables: [{ table: "users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email", "name"], erase: { strategy: "DELETE" } }],
});
const ADA = { email: "ada@example.com" };

/** The problems createSqlConnector reports for this url (none: it accepted it). */
function problemsFor(url: string, plaintextHosts?: string[]): string[] {
  try {
    createSqlConnector(CONFIG(), { url, plaintextHosts });
    return [];
  } catch (error) {
    expect(error).to.be.instanceOf(ConnectorConfigError);
    return (error as ConnectorConfigError).problems;
  }
}

describe("the SQL connector's database url: encrypted in transit", () => {
  it("refuses a MySQL url to another host without TLS, unknown parameters, and an address with VERIFY_IDENTITY, naming no password", () => {
    expect(problemsFor("mysql://app:s3cret@accounts.internal:3306/app")).to.deep.equal([]);
    const problems = [
      ...problemsFor("mysql://app:s3cret@accounts.internal:3306/app?ssl-mode=DISABLED"),
      ...problemsFor("mysql://app:s3cret@accounts.internal:3306/app?ssl=true"),
      ...problemsFor("mysql://app:s3cret@10.1.2.3:3306/app"),
    ];
    expect(problems).to.deep.equal([
      "url's ssl-mode=DISABLED would send every person's data to accounts.internal unencrypted. Leave ssl-mode out (VERIFY_IDENTITY), or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there",
      'url has an unknown parameter "ssl" (allowed: socketPath, ssl-mode, ssl-ca); for TLS use ssl-mode and ssl-ca',
      "url names the server by its address (10.1.2.3): ssl-mode=VERIFY_IDENTITY checks the certificate against a host name; connect by the name it is made out to, or set ssl-mode=VERIFY_CA",
    ]);
    expect(problems.join("\n")).not.to.include("s3cret");
    expect(problemsFor("mysql://app:s3cret@accounts.internal:3306/app?ssl-mode=DISABLED", ["accounts.internal"])).to.deep.equal([]);
    expect(problemsFor("mysql://root@127.0.0.1:3306/app")).to.deep.equal([]);
  });

  it("refuses a PostgreSQL url to another host whose sslmode could fall back to clear text", () => {
    for (const ok of ["?sslmode=verify-full", "?sslmode=require", "?sslmode=verify-ca&sslrootcert=/etc/ssl/ca.pem"]) expect(problemsFor(`postgres://app:s3cret@pg.internal/app${ok}`), ok).to.deep.equal([]);
    expect(problemsFor("postgres://app:s3cret@pg.internal/app")).to.deep.equal([
      "url's missing sslmode would let the person's data reach pg.internal unencrypted: add ?sslmode=verify-full (and sslrootcert=<PEM file> for a CA Node does not bundle), or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there",
    ]);
    expect(problemsFor("postgres://app:s3cret@pg.internal/app?sslmode=prefer")[0]).to.match(/^url's sslmode=prefer would let the person's data reach pg\.internal unencrypted/);
    expect(problemsFor("postgres://app@pg.internal/app", ["pg.internal"])).to.deep.equal([]);
    expect(problemsFor("postgres://postgres@localhost:5432/test")).to.deep.equal([]);
  });

  it("takes DSR_PLAINTEXT_HOSTS from the service's environment in a connectors file, for sql and auth-log entries (SQL and DynamoDB stores)", async () => {
    const file = path.join(tempDir(), "connectors.json");
    fs.writeFileSync(
      file,
      JSON.stringify({
        connectors: [
          { type: "sql", options: { ...CONFIG(), url: "postgres://app@pg.mesh/app" } },
          { type: "auth-log", options: { store: "sql", url: "mysql://app@logs.mesh/app?ssl-mode=DISABLED" } },
          { type: "auth-log", options: { name: "auth-log-dynamo", store: "dynamodb", tableName: "auth-events", region: "ap-south-1", endpoint: "http://dynamo.mesh:8000" } },
        ],
      }),
    );
    const refused = await loadConnectorsFile(file, {}).then(
      () => [] as string[],
      (e: { problems?: string[] }) => e.problems ?? [],
    );
    expect(refused.join("\n")).to.match(/connectors\[0\].*pg\.mesh unencrypted/);
    expect(refused.join("\n")).to.match(/connectors\[1\].*logs\.mesh unencrypted/);
    expect(refused.join("\n")).to.match(/connectors\[2\].*endpoint uses plain http to dynamo\.mesh: the person's sign-in events and the signed requests would cross the network unencrypted/);
    const connectors = await loadConnectorsFile(file, { DSR_PLAINTEXT_HOSTS: "pg.mesh,logs.mesh,dynamo.mesh" });
    expect(connectors.map((c) => c.spec.name)).to.deep.equal(["account-db", "auth-log", "auth-log-dynamo"]);
    await Promise.all(connectors.map((c) => (c as { close?: () => Promise<void> }).close?.()));
  });

  it("hands sslmode to PostgreSQL: verify-full against the local server, which has no TLS, is refused where the plain connection reaches the server", async () => {
    const url = new URL(POSTGRES_URL);
    const plain = createSqlConnector(CONFIG(), { url: url.toString() });
    url.searchParams.set("sslmode", "verify-full");
    const encrypted = createSqlConnector(CONFIG(), { url: url.toString() });
    try {
      // Without TLS the server answers (the scratch database has no users table); with sslmode it is never asked.
      expect((await plain.check(testContext())).message).to.equal("account-db: table users does not exist; fix the connector configuration or the database schema");
      expect((await encrypted.check(testContext())).message).to.equal("account-db: the database refused the check (UNKNOWN); details are in the service log");
    } finally {
      await plain.close();
      await encrypted.close();
    }
  });
});

describe("the SQL connector over TLS (a MariaDB that speaks only TLS)", function () {
  this.timeout(120_000);
  let db: TlsMariadb | undefined;
  before(async function () {
    if (!TlsMariadb.available()) {
      if (REQUIRE_MYSQL) throw new Error("mariadbd and mariadb-install-db are required (DSR_TEST_REQUIRE_MYSQL): install mariadb-server");
      this.skip();
    }
    db = await TlsMariadb.start();
    const c = await mysql.createConnection({ host: "localhost", port: db.port, user: "root", database: "dsr", ssl: { ca: fs.readFileSync(db.caFile, "utf8") } });
    await c.query("CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(320), name VARCHAR(100))");
    await c.query("INSERT INTO users VALUES (1, 'ada@example.com', 'Ada'), (2, 'grace@example.com', 'Grace')");
    await c.end();
  });
  after(async () => {
    await db?.stop();
  });

  it("collects over TLS with ssl-mode and ssl-ca, and fails its check without them", async () => {
    const over = createSqlConnector(CONFIG(), { url: db!.url("localhost", `ssl-mode=VERIFY_IDENTITY&ssl-ca=${db!.caFile}`) });
    const plain = createSqlConnector(CONFIG(), { url: db!.url("localhost", "") });
    try {
      expect((await over.check(testContext())).ok).to.equal(true);
      expect((await collectAll(over, ADA)).map((r) => r.data.name)).to.deep.equal(["Ada"]);
      expect((await plain.check(testContext())).ok, "a connection without TLS").to.equal(false);
    } finally {
      await over.close();
      await plain.close();
    }
  });
});
