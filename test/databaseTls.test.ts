import { expect } from "chai";
import fs from "node:fs";
import mysql from "mysql2/promise";
import { loadConfig } from "../src/config/env";
import { type RunningService, startService } from "../src/server";
import { REQUIRE_MYSQL, tempDir } from "./support/databases";
import { TlsMariadb } from "./support/tlsMariadb";

const ADMIN = "tls-test-admin-token-0123456789";

/**
 * The service database over TLS (POLICY.md: data encrypted in transit), against a MariaDB of the test's
 * own that refuses connections without TLS: DATABASE_URL's ssl-mode and ssl-ca, checked by the server
 * itself (its session's cipher, what it holds) and by what the service refuses to start on.
 */
describe("the service database over TLS (a MariaDB that speaks only TLS)", function () {
  this.timeout(120_000);
  let db: TlsMariadb | undefined;
  let service: RunningService | undefined;

  before(async function () {
    if (!TlsMariadb.available()) {
      if (REQUIRE_MYSQL) throw new Error("mariadbd and mariadb-install-db are required (DSR_TEST_REQUIRE_MYSQL): install mariadb-server");
      this.skip();
    }
    db = await TlsMariadb.start();
  });
  after(async () => {
    await db?.stop();
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  const start = (url: string) =>
    startService({
      config: loadConfig({ NODE_ENV: "test", PORT: "0", DSR_HOST: "127.0.0.1", DATABASE_URL: url, DSR_DATA_DIR: tempDir(), DSR_LOG_LEVEL: "silent", DSR_WORKER_CONCURRENCY: "0", DSR_BOOTSTRAP_ADMIN_TOKEN: ADMIN }),
    });

  /** The server's own view, through a connection of the test's: the tables of `dsr` and its requests. */
  const held = async () => {
    const c = await mysql.createConnection({ host: "localhost", port: db!.port, user: "root", database: "dsr", ssl: { ca: fs.readFileSync(db!.caFile, "utf8") } });
    try {
      const [tables] = (await c.query("SHOW TABLES")) as [Array<Record<string, string>>, unknown];
      const requests = tables.some((t) => Object.values(t).includes("requests")) ? ((await c.query("SELECT COUNT(*) AS n FROM requests")) as [Array<{ n: number }>, unknown])[0][0].n : null;
      return { tables: tables.length, requests: requests === null ? null : Number(requests) };
    } finally {
      await c.end();
    }
  };

  it("refuses to start when the server's certificate is not from ssl-ca or not made out to the host, or without TLS, writing nothing", async () => {
    const before = await held();
    const refusal = async (url: string) => {
      const failure = await start(url).then(
        (s) => ((service = s), undefined),
        (e: Error) => e,
      );
      expect(failure, `started on ${url}`).to.be.instanceOf(Error);
      return failure!.message;
    };
    expect(await refusal(db!.url("localhost", `ssl-mode=VERIFY_IDENTITY&ssl-ca=${db!.strangerCaFile}`))).to.match(
      new RegExp(`^DATABASE_URL: cannot connect to localhost:${db!.port}: the server's TLS certificate was not accepted \\(ssl-mode=VERIFY_IDENTITY\\): give the CA that issued it as ssl-ca \\(HANDSHAKE_SSL_ERROR: self-signed certificate in certificate chain\\)$`),
    );
    // A loopback host without ssl-mode goes without TLS, which this server refuses.
    expect(await refusal(db!.url("localhost", ""))).to.match(/: access denied, which is also how a server that accepts only TLS answers a connection without it: check the credentials, or set ssl-mode=VERIFY_IDENTITY \(or VERIFY_CA\) and ssl-ca \(ER_ACCESS_DENIED_ERROR: /);
    await db!.useCertificateFor("db.example.test");
    try {
      expect(await refusal(db!.url("localhost", `ssl-mode=VERIFY_IDENTITY&ssl-ca=${db!.caFile}`))).to.match(
        /^DATABASE_URL: cannot connect to localhost:\d+: the server's TLS certificate is not made out to localhost: connect by a name it is made out to, or set ssl-mode=VERIFY_CA \(HANDSHAKE_SSL_ERROR: Hostname\/IP does not match certificate's altnames: /,
      );
      expect(await held(), "nothing written").to.deep.equal(before);
      // VERIFY_CA checks the chain, not the name.
      service = await start(db!.url("localhost", `ssl-mode=VERIFY_CA&ssl-ca=${db!.caFile}`));
      await expectServes(service);
    } finally {
      await db!.useCertificateFor("localhost");
    }
  });

  it("connects over TLS with ssl-mode=VERIFY_IDENTITY and serves requests, as the server sees it", async () => {
    service = await start(db!.url("localhost", `ssl-mode=VERIFY_IDENTITY&ssl-ca=${db!.caFile}`));
    await expectServes(service);
  });

  /** The service's session is encrypted, and a request submitted through GraphQL is in the server's table. */
  async function expectServes(running: RunningService): Promise<void> {
    const [{ cipher }] = (await running.services.ds.query("SELECT VARIABLE_VALUE AS cipher FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'")) as Array<{ cipher: string }>;
    expect(cipher, "the session's TLS cipher").to.match(/^TLS_|AES|CHACHA/);
    const before = (await held()).requests ?? 0;
    const response = await fetch(running.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ query: `mutation { submitRequest(input: { type: ACCESS, subject: { email: "ada@example.com" }, identityVerified: true, verificationEvidence: "signed-in session" }) { id status } }` }),
    });
    const body = (await response.json()) as { data?: { submitRequest: { status: string } }; errors?: unknown };
    expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
    expect(body.data!.submitRequest.status).to.equal("PENDING_APPROVAL");
    expect((await held()).requests, "the request, in the server's table").to.equal(before + 1);
  }
});
