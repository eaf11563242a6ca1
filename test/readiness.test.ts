import fs from "node:fs";
import path from "node:path";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";

// s3rver ships no type declarations; this is the part of its API the test uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> };

async function readyz(t: TestService): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(new URL("/readyz", t.url));
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

describe("/readyz and the export storage", () => {
  let db: TestDatabase;
  let t: TestService | undefined;

  beforeEach(async () => {
    db = await createSqliteDatabase();
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await db.drop();
  });

  it("answers 503 while the local export folder cannot be written, names the kind only, and 200 once it can", async () => {
    t = await new TestService(db).start();
    const folder = path.join(t.service.services.config.dataDir, "exports");
    expect(await readyz(t)).to.deep.equal({ status: 200, body: { status: "ready", database: "better-sqlite3" } as never });
    expect(fs.readdirSync(folder), "the probe leaves nothing behind").to.deep.equal([]);

    // The folder became a file (a mount gone wrong, an operator's mistake): every export would fail now.
    fs.rmSync(folder, { recursive: true });
    fs.writeFileSync(folder, "not a folder");
    const broken = await readyz(t);
    expect(broken).to.deep.equal({ status: 503, body: { status: "unavailable", reason: "export storage unavailable" } });
    expect(JSON.stringify(broken.body)).not.to.contain(folder);

    fs.rmSync(folder);
    expect((await readyz(t)).status).to.equal(200);
    expect(fs.readdirSync(folder)).to.deep.equal([]);
  });

  it("answers 503 while S3 does not answer, and 200 once it is back (s3rver on loopback)", async function () {
    this.timeout(60_000);
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = "S3RVER";
    process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
    const directory = tempDir("dsr-s3rver-");
    const options = { address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: "dsr-ready" }] };
    let s3 = new S3rver({ ...options, port: 0 });
    const port = (await s3.run()).port;
    try {
      t = await new TestService(db, { DSR_EXPORT_STORAGE: "s3", DSR_S3_BUCKET: "dsr-ready", DSR_S3_ENDPOINT: `http://127.0.0.1:${port}` }).start();
      expect((await readyz(t)).status).to.equal(200);

      await s3.close();
      const started = Date.now();
      expect(await readyz(t)).to.deep.equal({ status: 503, body: { status: "unavailable", reason: "export storage unavailable" } });
      expect(Date.now() - started, "ms to answer").to.be.below(5_000);

      s3 = new S3rver({ ...options, port });
      await s3.run();
      expect((await readyz(t)).status).to.equal(200);
    } finally {
      await t?.stop();
      t = undefined;
      await s3.close().catch(() => undefined);
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});
