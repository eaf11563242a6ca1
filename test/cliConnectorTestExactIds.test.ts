import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { tempDir } from "./support/databases";
import { dsr } from "./support/cliBinary";

/** Sessions per user id, read from the SQLite file itself. */
async function sessionsHeld(file: string): Promise<Record<string, number>> {
  const ds = new DataSource({ type: "better-sqlite3", database: file });
  await ds.initialize();
  try {
    const rows = (await ds.query(`SELECT user_id AS u, COUNT(*) AS n FROM sessions GROUP BY user_id ORDER BY user_id`)) as { u: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.u, Number(r.n)]));
  } finally {
    await ds.destroy();
  }
}

/**
 * `dsr connector test --subject` passes each identity on exactly as given, as the service carries it.
 * The sessions table holds 5 rows of `usr_a ` (a trailing space), 3 of `usr_a` (another account) and
 * 1 of `usr_b`. The CLI used to trim every value: `--subject "email=...,userId=usr_a "` tested the
 * connector against `usr_a`, found 3, and with --erase erased that other account's sessions.
 */
describe("dsr connector test: --subject values exactly as given", () => {
  it("runs the suite against usr_a  (5 sessions), and --erase erases those and leaves usr_a's 3", async function () {
    this.timeout(60_000);
    const dir = tempDir("dsr-cli-exact-");
    const file = path.join(dir, "app.sqlite");
    const seed = new DataSource({ type: "better-sqlite3", database: file });
    await seed.initialize();
    await seed.query(`CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, ip TEXT)`);
    const rows = [...Array(5).fill("usr_a "), ...Array(3).fill("usr_a"), "usr_b"];
    await seed.query(`INSERT INTO sessions (user_id, ip) VALUES ${rows.map(() => "(?, '10.0.0.1')").join(", ")}`, rows);
    await seed.destroy();
    const sessions = { name: "app-db", version: "1.0.0", tables: [{ table: "sessions", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "session", primaryKey: "id", exportColumns: ["ip"], erase: { strategy: "DELETE" } }] };
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "sql", options: { url: "sqlite:app.sqlite", ...sessions } }] }));
    const args = ["connector", "test", "app-db", "--connectors-file", path.join(dir, "connectors.json"), "--subject", "email=nobody@example.com,userId=usr_a ", "--other", "email=other@example.com,userId=usr_b", "--expect-records", "5", "--json"];
    try {
      expect(await sessionsHeld(file), "seeded").to.deep.equal({ "usr_a": 3, "usr_a ": 5, usr_b: 1 });
      const run = await dsr(args, {}, dir, undefined, 50_000);
      const failed = (JSON.parse(run.stdout) as Array<{ title: string; outcome: string; reason: string | null }>).filter((r) => r.outcome === "fail");
      // Before: the record count case failed (usr_a's 3 found), and --erase erased usr_a's 3 sessions and left usr_a 's 5.
      expect(failed.map((r) => `${r.title}: ${r.reason}`)).to.deep.equal([]);
      expect(run.code, run.stderr).to.equal(0);
      expect(await sessionsHeld(file), "read-only run").to.deep.equal({ "usr_a": 3, "usr_a ": 5, usr_b: 1 });
      const erasing = await dsr([...args, "--erase"], {}, dir, undefined, 50_000);
      expect(erasing.code, erasing.stdout + erasing.stderr).to.equal(0);
      expect(await sessionsHeld(file), "after --erase").to.deep.equal({ "usr_a": 3, usr_b: 1 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
