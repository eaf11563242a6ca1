import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { ConfigError, loadConfig } from "../src/config/env";

/** Settings that make NODE_ENV=production acceptable, so a test can take exactly one of them away. */
const AUDIT_KEY = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PRODUCTION = {
  NODE_ENV: "production",
  DSR_SECRET: "s".repeat(32),
  DSR_NOTIFIER: "webhook",
  DSR_NOTIFIER_URL: "https://mailer.internal/notify",
  DSR_NOTIFIER_SECRET: "n".repeat(16),
  DSR_EXPORT_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
  DSR_PUBLIC_URL: "https://dsr.example.com",
  DSR_AUDIT_SIGNING_KEY: AUDIT_KEY,
};

/** The problems loadConfig reports for `source`; fails the test when it accepts it. */
function problemsOf(source: Record<string, string>): string[] {
  try {
    loadConfig(source);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  expect.fail(`loadConfig accepted ${JSON.stringify(source)}`);
}

const about = (problems: string[], name: string) => problems.filter((p) => p.startsWith(name));

describe("loadConfig", () => {
  describe("defaults", () => {
    it("uses the documented defaults when nothing is set", () => {
      const config = loadConfig({});
      expect(config.PORT).to.equal(4000);
      expect(config.DSR_HOST).to.equal("0.0.0.0");
      expect(config.NODE_ENV).to.equal("development");
      expect(config.DSR_LOG_LEVEL).to.equal("info");
      expect(config.DSR_NOTIFIER).to.equal("log");
      expect(config.DSR_MIGRATE_ON_START).to.equal(true);
      expect(config.DSR_DATA_DIR).to.equal("./data");
      expect(config.DATABASE_URL).to.equal(undefined);
      expect(config.DSR_SECRET).to.equal(undefined);
    });

    it("resolves the default data dir ./data to an absolute path and puts dsr.sqlite in it", () => {
      const config = loadConfig({});
      expect(path.isAbsolute(config.dataDir)).to.equal(true);
      expect(config.dataDir).to.equal(path.resolve(process.cwd(), "data"));
      expect(config.database).to.deep.equal({ kind: "sqlite", file: path.join(config.dataDir, "dsr.sqlite") });
    });

    it("keeps the SQLite file in a relative DSR_DATA_DIR, resolved against the working directory", () => {
      const config = loadConfig({ DSR_DATA_DIR: "var/dsr" });
      expect(config.dataDir).to.equal(path.resolve(process.cwd(), "var/dsr"));
      expect(config.database).to.deep.equal({ kind: "sqlite", file: path.resolve(process.cwd(), "var/dsr", "dsr.sqlite") });
    });

    it("treats empty values as unset", () => {
      const config = loadConfig({ PORT: "", DATABASE_URL: "", DSR_LOG_LEVEL: "", NODE_ENV: "" });
      expect(config.PORT).to.equal(4000);
      expect(config.DSR_LOG_LEVEL).to.equal("info");
      expect(config.NODE_ENV).to.equal("development");
      expect(config.database.kind).to.equal("sqlite");
    });

    it("turns numeric and boolean strings into numbers and booleans", () => {
      const config = loadConfig({ PORT: "8080", DSR_MIGRATE_ON_START: "false", DSR_VERIFICATION_MAX_ATTEMPTS: "3", DSR_SHUTDOWN_GRACE_SECONDS: "0" });
      expect(config.PORT).to.equal(8080);
      expect(config.DSR_MIGRATE_ON_START).to.equal(false);
      expect(config.DSR_VERIFICATION_MAX_ATTEMPTS).to.equal(3);
      expect(config.DSR_SHUTDOWN_GRACE_SECONDS).to.equal(0);
      expect(loadConfig({ DSR_MIGRATE_ON_START: "1" }).DSR_MIGRATE_ON_START).to.equal(true);
    });

    it("ignores variables that are not DSR_ settings, as found in process.env", () => {
      const config = loadConfig({ PATH: "/usr/bin", HOME: "/home/dsr", DSRX: "1", npm_config_cache: "/tmp" });
      expect(config.PORT).to.equal(4000);
    });
  });

  describe("DATABASE_URL", () => {
    it("selects MySQL for mysql://, keeping the URL as given, over TLS that checks the server's name when the host is not loopback", () => {
      const url = "mysql://dsr:pw@db.internal:3306/dsr";
      expect(loadConfig({ DATABASE_URL: url }).database).to.deep.equal({ kind: "mysql", url, tls: { mode: "VERIFY_IDENTITY" } });
    });

    it("selects MySQL for mariadb://, rewriting the scheme to mysql:, without TLS to a loopback host or a socket", () => {
      expect(loadConfig({ DATABASE_URL: "mariadb://root@127.0.0.1:3306/dsr" }).database).to.deep.equal({
        kind: "mysql",
        url: "mysql://root@127.0.0.1:3306/dsr",
        tls: { mode: "DISABLED" },
      });
      expect((loadConfig({ DATABASE_URL: "mysql://root@localhost/dsr?socketPath=/run/mysqld/mysqld.sock" }).database as { tls: unknown }).tls).to.deep.equal({ mode: "DISABLED" });
    });

    it("reads ssl-mode and ssl-ca, and refuses what the driver would ignore or what would cross a network in clear, naming no password", () => {
      const ca = path.join(__dirname, "tls-ca.pem");
      require("node:fs").writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
      try {
        expect((loadConfig({ DATABASE_URL: `mysql://dsr:pw@db.internal/dsr?ssl-mode=verify_ca&ssl-ca=${ca}` }).database as { tls: unknown }).tls).to.deep.equal({ mode: "VERIFY_CA", caFile: ca });
        const problems = problemsOf({ DATABASE_URL: "mysql://dsr:s3cret@db.internal/dsr?ssl=true&ssl-mode=DISABLED" });
        expect(problems).to.deep.equal([
          'DATABASE_URL has an unknown parameter "ssl" (allowed: socketPath, ssl-mode, ssl-ca); for TLS use ssl-mode and ssl-ca',
          "DATABASE_URL's ssl-mode=DISABLED would send every person's data to db.internal unencrypted. Leave ssl-mode out (VERIFY_IDENTITY), or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there",
        ]);
        expect(problemsOf({ DATABASE_URL: "mysql://dsr:s3cret@db.internal/dsr?ssl-mode=SOMETIMES" })).to.deep.equal(["DATABASE_URL's ssl-mode must be one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"]);
        expect(problemsOf({ DATABASE_URL: "mysql://dsr:s3cret@db.internal/dsr?ssl-ca=/nowhere/ca.pem" })).to.deep.equal(["DATABASE_URL's ssl-ca (/nowhere/ca.pem) cannot be read: ENOENT"]);
        expect(problemsOf({ DATABASE_URL: `mysql://dsr:s3cret@db.internal/dsr?ssl-ca=${path.join(__dirname, "..", "..", "package.json")}` })[0]).to.match(/ssl-ca \(.*\) holds no PEM certificate$/);
        expect(problemsOf({ DATABASE_URL: "mysql://dsr:s3cret@10.0.4.12/dsr" })).to.deep.equal([
          "DATABASE_URL names the server by its address (10.0.4.12): ssl-mode=VERIFY_IDENTITY checks the certificate against a host name; connect by the name it is made out to, or set ssl-mode=VERIFY_CA",
        ]);
        expect((loadConfig({ DATABASE_URL: "mysql://dsr:pw@10.0.4.12/dsr?ssl-mode=VERIFY_CA" }).database as { tls: unknown }).tls).to.deep.equal({ mode: "VERIFY_CA" });
        const mesh = loadConfig({ DATABASE_URL: "mysql://dsr:pw@db.internal/dsr?ssl-mode=DISABLED", DSR_PLAINTEXT_HOSTS: "DB.internal,mailer.mesh" });
        expect((mesh.database as { tls: unknown }).tls).to.deep.equal({ mode: "DISABLED" });
      } finally {
        require("node:fs").rmSync(ca);
      }
    });

    it("selects SQLite at the given file for sqlite:<path>, whatever DSR_DATA_DIR says", () => {
      expect(loadConfig({ DATABASE_URL: "sqlite:/srv/dsr/main.db", DSR_DATA_DIR: "/elsewhere" }).database).to.deep.equal({
        kind: "sqlite",
        file: "/srv/dsr/main.db",
      });
    });

    it("resolves a relative sqlite: path against the working directory", () => {
      expect(loadConfig({ DATABASE_URL: "sqlite:db/dsr.db" }).database).to.deep.equal({ kind: "sqlite", file: path.resolve(process.cwd(), "db/dsr.db") });
    });

    it("refuses a MySQL URL without a database name", () => {
      expect(about(problemsOf({ DATABASE_URL: "mysql://root@127.0.0.1:3306" }), "DATABASE_URL")).to.have.length(1);
    });
  });

  describe("encryption in transit", () => {
    const PLAIN = {
      DSR_NOTIFIER_URL: "each person's address and verification code",
      DSR_CALLBACK_URL: "each request's status changes",
      DSR_PUBLIC_URL: "export links, and the person's data downloaded through them",
    };
    const settings = (scheme: string, host: string) => ({
      DSR_NOTIFIER: "webhook",
      DSR_NOTIFIER_URL: `${scheme}://${host}/notify`,
      DSR_NOTIFIER_SECRET: "n".repeat(16),
      DSR_CALLBACK_URL: `${scheme}://user:pw@${host}:8080/callbacks`,
      DSR_CALLBACK_SECRET: "c".repeat(16),
      DSR_PUBLIC_URL: `${scheme}://${host}`,
    });

    it("refuses plain http to another host for every URL that carries personal data, naming the host and not the URL", () => {
      const problems = problemsOf(settings("http", "hooks.example.com"));
      expect(problems).to.deep.equal(
        Object.entries(PLAIN).map(
          ([name, what]) =>
            `${name} uses plain http to hooks.example.com: ${what} would cross the network unencrypted. Use https, or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there (a service mesh's mutual TLS)`,
        ),
      );
      expect(problems.join("\n")).not.to.include("user:pw");
    });

    it("accepts https anywhere, plain http to loopback, and to hosts DSR_PLAINTEXT_HOSTS lists", () => {
      for (const source of [settings("https", "hooks.example.com"), settings("http", "127.0.0.1"), settings("http", "localhost"), settings("http", "[::1]"), { ...settings("http", "hooks.mesh"), DSR_PLAINTEXT_HOSTS: "other.mesh,hooks.mesh" }]) {
        expect(loadConfig(source).DSR_PUBLIC_URL).to.equal(source.DSR_PUBLIC_URL);
      }
      expect(about(problemsOf({ DSR_PLAINTEXT_HOSTS: "a b" }), "DSR_PLAINTEXT_HOSTS")).to.deep.equal(["DSR_PLAINTEXT_HOSTS must be host names or addresses separated by commas"]);
    });
  });

  describe("bad values", () => {
    const bad = { PORT: "abc", DSR_LOG_LEVEL: "loud", DATABASE_URL: "postgres://x/y", DSR_VERIFICATION_MAX_ATTEMPTS: "0" };

    it("throws one ConfigError listing every bad value, not just the first", () => {
      const problems = problemsOf(bad);
      for (const name of Object.keys(bad)) expect(about(problems, name), `a problem about ${name} in ${JSON.stringify(problems)}`).not.to.be.empty;
      expect(about(problems, "PORT"), "one message: a range means nothing for text").to.deep.equal(["PORT must be a whole number"]);
      expect(about(problems, "DSR_LOG_LEVEL")[0]).to.include("fatal, error, warn, info, debug, trace, silent");
      expect(about(problems, "DATABASE_URL")[0]).to.include("mysql://user:password@host:3306/database or sqlite:<path>");
      expect(about(problems, "DSR_VERIFICATION_MAX_ATTEMPTS")).to.deep.equal(["DSR_VERIFICATION_MAX_ATTEMPTS must not be less than 1"]);
    });

    it("keeps request records 730 days (the CCPA's 24 months) by default, and refuses a period that is not a whole number of days or is shorter than the retry grace or an export's life", () => {
      expect(loadConfig({}).DSR_REQUEST_RECORD_RETENTION_DAYS).to.equal(730);
      expect(loadConfig({ DSR_REQUEST_RECORD_RETENTION_DAYS: "1", DSR_STAGED_GRACE_MINUTES: "1440", DSR_EXPORT_RETENTION_DAYS: "1" }).DSR_REQUEST_RECORD_RETENTION_DAYS).to.equal(1);
      expect(about(problemsOf({ DSR_REQUEST_RECORD_RETENTION_DAYS: "two years" }), "DSR_REQUEST_RECORD_RETENTION_DAYS")).to.deep.equal(["DSR_REQUEST_RECORD_RETENTION_DAYS must be a whole number"]);
      expect(about(problemsOf({ DSR_REQUEST_RECORD_RETENTION_DAYS: "0" }), "DSR_REQUEST_RECORD_RETENTION_DAYS")).to.deep.equal(["DSR_REQUEST_RECORD_RETENTION_DAYS must not be less than 1"]);
      expect(problemsOf({ DSR_REQUEST_RECORD_RETENTION_DAYS: "1", DSR_STAGED_GRACE_MINUTES: "1441", DSR_EXPORT_RETENTION_DAYS: "1" })).to.deep.equal([
        "DSR_REQUEST_RECORD_RETENTION_DAYS (1) is shorter than DSR_STAGED_GRACE_MINUTES (1441 minutes): a request's identities must outlast the window in which its failed tasks may be retried",
      ]);
      // An export (all of the person's data) must not outlive the record that says whose it is.
      expect(problemsOf({ DSR_REQUEST_RECORD_RETENTION_DAYS: "29" })).to.deep.equal([
        "DSR_REQUEST_RECORD_RETENTION_DAYS (29) is shorter than DSR_EXPORT_RETENTION_DAYS (30): a request's export, all of the person's data, would outlive the record that says whose it is (and stay downloadable after the record no longer names them)",
      ]);
      expect(loadConfig({ DSR_REQUEST_RECORD_RETENTION_DAYS: "30" }).DSR_REQUEST_RECORD_RETENTION_DAYS).to.equal(30);
    });

    it("puts every problem in the error message, one per line, without echoing the values", () => {
      let error: unknown;
      try {
        loadConfig(bad);
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ConfigError);
      const { message, problems } = error as ConfigError;
      expect(message.split("\n")[0]).to.equal("invalid configuration:");
      for (const problem of problems) expect(message).to.include(`  - ${problem}`);
      expect(message.split("\n")).to.have.length(problems.length + 1);
      expect(message).not.to.include("postgres://x/y");
      expect(message).not.to.include("loud");
    });

    it("refuses out-of-range numbers", () => {
      expect(about(problemsOf({ PORT: "65536" }), "PORT")).to.deep.equal(["PORT must not be greater than 65535"]);
      expect(about(problemsOf({ DSR_VERIFICATION_MAX_ATTEMPTS: "21" }), "DSR_VERIFICATION_MAX_ATTEMPTS")).to.have.length(1);
      expect(about(problemsOf({ DSR_BODY_LIMIT_BYTES: "10" }), "DSR_BODY_LIMIT_BYTES")).to.have.length(1);
    });

    it("refuses a wake address that others cannot send to, and takes one with the address to advertise", () => {
      expect(about(problemsOf({ DSR_WAKE_HOST: "0.0.0.0" }), "DSR_WAKE_HOST")).to.deep.equal([
        "DSR_WAKE_HOST=0.0.0.0 listens on every address; set DSR_WAKE_ADVERTISE_HOST to the one other processes reach this one at",
      ]);
      expect(about(problemsOf({ DSR_WAKE_HOST: "worker-1.internal" }), "DSR_WAKE_HOST")).to.have.length(1);
      expect(about(problemsOf({ DSR_WAKE_PORT: "70000" }), "DSR_WAKE_PORT")).to.have.length(1);
      expect(about(problemsOf({ DSR_WAKE_ADVERTISE_HOST: "a b" }), "DSR_WAKE_ADVERTISE_HOST")).to.have.length(1);
      const config = loadConfig({ DSR_WAKE_HOST: "0.0.0.0", DSR_WAKE_ADVERTISE_HOST: "10.0.0.5", DSR_WAKE_PORT: "7420" });
      expect(config).to.include({ DSR_WAKE_HOST: "0.0.0.0", DSR_WAKE_ADVERTISE_HOST: "10.0.0.5", DSR_WAKE_PORT: 7420, DSR_WAKE_ENABLED: true });
      // Off, the address is not used, so it is not checked.
      expect(loadConfig({ DSR_WAKE_ENABLED: "false", DSR_WAKE_HOST: "::" }).DSR_WAKE_ENABLED).to.equal(false);
    });

    it("refuses a boolean it cannot read", () => {
      expect(problemsOf({ DSR_MIGRATE_ON_START: "yes" })).to.deep.equal(["DSR_MIGRATE_ON_START must be a boolean value"]);
    });

    it("refuses an unknown NODE_ENV", () => {
      expect(about(problemsOf({ NODE_ENV: "staging" }), "NODE_ENV")).to.have.length(1);
    });
  });

  describe("production", () => {
    it("accepts production with a secret and a webhook notifier", () => {
      const config = loadConfig(PRODUCTION);
      expect(config.NODE_ENV).to.equal("production");
      expect(config.DSR_NOTIFIER).to.equal("webhook");
      expect(config.DSR_SECRET).to.equal(PRODUCTION.DSR_SECRET);
    });

    it("refuses production without an audit signing key: a generated one differs between hosts and goes with the data folder", () => {
      const { DSR_AUDIT_SIGNING_KEY: _key, ...withoutKey } = PRODUCTION;
      expect(problemsOf(withoutKey)).to.deep.equal([
        "DSR_AUDIT_SIGNING_KEY or DSR_AUDIT_SIGNING_KEY_FILE is required in production: every serve and worker process must sign audit checkpoints with one key that outlives its data folder (openssl genpkey -algorithm ed25519)",
      ]);
    });

    it("refuses production without DSR_SECRET", () => {
      const { DSR_SECRET: _omitted, ...withoutSecret } = PRODUCTION;
      const problems = problemsOf(withoutSecret);
      expect(problems).to.include("DSR_SECRET is required in production (at least 32 characters)");
      expect(problems.every((p) => p.startsWith("DSR_SECRET")), JSON.stringify(problems)).to.equal(true);
    });

    it("refuses production without DSR_PUBLIC_URL: export links would follow the caller's Host header over plain http", () => {
      const { DSR_PUBLIC_URL: _omitted, ...withoutPublicUrl } = PRODUCTION;
      expect(problemsOf(withoutPublicUrl)).to.deep.equal([
        "DSR_PUBLIC_URL is required with NODE_ENV=production: export links would otherwise be built from the Host header each caller sent (over plain http, unless DSR_TLS_CERT_FILE makes this server speak https), e.g. https://dsr.example.com",
      ]);
      expect(loadConfig({ ...withoutPublicUrl, NODE_ENV: "development" }).DSR_PUBLIC_URL).to.equal(undefined);
    });

    it("refuses a DSR_SECRET shorter than 32 characters, in production or not", () => {
      expect(problemsOf({ ...PRODUCTION, DSR_SECRET: "s".repeat(31) })).to.deep.equal(["DSR_SECRET must be at least 32 characters"]);
      expect(problemsOf({ DSR_SECRET: "short" })).to.deep.equal(["DSR_SECRET must be at least 32 characters"]);
    });

    it("refuses production with the default log notifier", () => {
      const { DSR_NOTIFIER: _n, DSR_NOTIFIER_URL: _u, DSR_NOTIFIER_SECRET: _s, ...withLogNotifier } = PRODUCTION;
      expect(problemsOf(withLogNotifier)).to.deep.equal([
        "DSR_NOTIFIER=log prints verification codes to the log and is refused in production; use webhook",
      ]);
      expect(problemsOf({ ...withLogNotifier, DSR_NOTIFIER: "log" })).to.have.length(1);
    });

    it("allows the log notifier outside production", () => {
      expect(loadConfig({ NODE_ENV: "test" }).DSR_NOTIFIER).to.equal("log");
    });
  });

  describe("webhook notifier", () => {
    it("refuses DSR_NOTIFIER=webhook without DSR_NOTIFIER_URL and DSR_NOTIFIER_SECRET, naming both", () => {
      const problems = problemsOf({ DSR_NOTIFIER: "webhook" });
      expect(about(problems, "DSR_NOTIFIER_URL")).to.deep.equal(["DSR_NOTIFIER_URL must be an http(s) URL when DSR_NOTIFIER=webhook"]);
      expect(about(problems, "DSR_NOTIFIER_SECRET")).to.include("DSR_NOTIFIER_SECRET is required when DSR_NOTIFIER=webhook");
    });

    it("refuses a webhook URL that is not http(s)", () => {
      const problems = problemsOf({ DSR_NOTIFIER: "webhook", DSR_NOTIFIER_URL: "ftp://mailer/notify", DSR_NOTIFIER_SECRET: "n".repeat(16) });
      expect(problems).to.deep.equal(["DSR_NOTIFIER_URL must be an http(s) URL when DSR_NOTIFIER=webhook"]);
    });

    it("accepts a plain-http URL on an internal host name only when DSR_PLAINTEXT_HOSTS lists it", () => {
      const source = { DSR_NOTIFIER: "webhook", DSR_NOTIFIER_URL: "http://mailer:8080/notify", DSR_NOTIFIER_SECRET: "n".repeat(16) };
      expect(problemsOf(source)[0]).to.match(/^DSR_NOTIFIER_URL uses plain http to mailer: /);
      expect(loadConfig({ ...source, DSR_PLAINTEXT_HOSTS: "mailer" }).DSR_NOTIFIER_URL).to.equal("http://mailer:8080/notify");
    });
  });

  describe("processing location", () => {
    it("defaults to India (the policy's primary location) and takes another country code", () => {
      expect(loadConfig({}).DSR_PROCESSING_LOCATION).to.equal("IN");
      expect(loadConfig({ DSR_PROCESSING_LOCATION: "DE" }).DSR_PROCESSING_LOCATION).to.equal("DE");
    });

    it("refuses anything but a two-letter country code in capitals, without repeating it", () => {
      for (const value of ["in", "India", "IND", "I1"]) {
        const problems = problemsOf({ DSR_PROCESSING_LOCATION: value });
        expect(problems, value).to.deep.equal(["DSR_PROCESSING_LOCATION must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN"]);
      }
    });
  });

  describe("unknown DSR_ variables", () => {
    it("reports a misspelt DSR_ variable by name", () => {
      expect(problemsOf({ DSR_PROT: "1" })).to.deep.equal(["DSR_PROT is not a setting this service knows (check the spelling)"]);
    });

    it("reports misspellings together with bad values", () => {
      const problems = problemsOf({ DSR_PROT: "1", DSR_LOGLEVEL: "debug", PORT: "abc" });
      expect(problems).to.include("DSR_PROT is not a setting this service knows (check the spelling)");
      expect(problems).to.include("DSR_LOGLEVEL is not a setting this service knows (check the spelling)");
      expect(about(problems, "PORT")).not.to.be.empty;
    });

    it("accepts the DSR_ variables that the tests and clients read", () => {
      const config = loadConfig({
        DSR_TEST_MYSQL_URL: "mysql://root@127.0.0.1:3306/test",
        DSR_TEST_REQUIRE_MYSQL: "1",
        DSR_TEST_LOG_LEVEL: "debug",
        DSR_TOKEN: "dsr_x",
        DSR_URL: "http://127.0.0.1:4000/graphql",
      });
      expect(config.PORT).to.equal(4000);
    });
  });
});
