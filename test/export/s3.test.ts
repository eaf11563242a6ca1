import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { SubjectRecord } from "../../src/connectors/sdk";
import { ExportRow } from "../../src/entities";
import { exportTools } from "../../src/export/context";
import { purgeExpiredExports } from "../../src/export/purge";
import { S3ExportStorage } from "../../src/export/storage/s3";
import { verifyArchive } from "../../src/export/verify";
import { createSqliteDatabase, tempDir, TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ListingConnector } from "../support/scriptedConnector";
import { downloadRoster, drawRoster } from "../roster/support";
import { ADA_EMAIL, completedRequest, download, exportLink, FAST } from "./support";
import { awsCredentials } from "../support/awsCredentials";

// s3rver ships no type declarations; this is the part of its API the test uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: "event", listener: (e: { Records: Array<{ eventName: string; s3: { object: { key: string } } }> }) => void): void;
};

const BUCKET = "dsr-exports";
/** Records of incompressible text: the encrypted export comes out above one 5 MiB part, so the upload is multipart. */
const RECORDS = 12_000;

describe("export storage on S3 (s3rver on loopback)", () => {
  let server: InstanceType<typeof S3rver>;
  let endpoint: string;
  let db: TestDatabase;
  let t: TestService;
  let restoreCredentials: (() => void) | undefined;
  let client: S3Client;
  const events: string[] = [];
  const sseHeaders: string[] = [];

  before(async function () {
    this.timeout(120_000);
    server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: tempDir("dsr-s3rver-"), configureBuckets: [{ name: BUCKET }] });
    server.on("event", (e) => events.push(...e.Records.map((r) => `${r.eventName} ${decodeURIComponent(r.s3.object.key)}`)));
    const address = await server.run();
    endpoint = `http://127.0.0.1:${address.port}`;
    // s3rver's well-known credentials, read by the SDK's default chain as real AWS credentials would be.
    restoreCredentials = awsCredentials("S3RVER");
    client = new S3Client({ region: "eu-west-1", endpoint, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
    const logs = new ListingConnector({ name: "auth-log", categories: ["AUTH_LOGS"], supports: ["access"] });
    logs.data.set(
      ADA_EMAIL,
      Array.from({ length: RECORDS }, (_, i): SubjectRecord => ({ category: "AUTH_LOGS", type: "event", id: `e${i}`, recordedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), data: { device: randomBytes(300).toString("base64"), ok: i % 7 !== 0 } })),
    );
    db = await createSqliteDatabase();
    t = await new TestService(db, { ...FAST, DSR_EXPORT_STORAGE: "s3", DSR_S3_BUCKET: BUCKET, DSR_S3_ENDPOINT: endpoint }, [logs]).start();
    // s3rver ignores server-side encryption, so the test watches what the service's own client sends.
    const storage = exportTools(t.service.services).storage as S3ExportStorage;
    storage.client.middlewareStack.add(
      (next, context) => async (args) => {
        const sse = (args.request as { headers: Record<string, string> }).headers["x-amz-server-side-encryption"];
        if (sse) sseHeaders.push(`${context.commandName} ${sse}`);
        return next(args);
      },
      { step: "finalizeRequest", name: "watchServerSideEncryption" },
    );
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
    client?.destroy();
    await server?.close();
    restoreCredentials?.();
  });

  it("uploads the encrypted export in parts with server-side encryption requested, and serves it decrypted", async function () {
    this.timeout(120_000);
    const id = await completedRequest(t);
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId: id });
    expect(row.storage).to.equal("s3");
    expect(row.encryptedBytes).to.be.above(5 * 1024 * 1024);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.Contents!.map((o) => [o.Key, o.Size])).to.deep.equal([[`exports/${row.objectKey}`, row.encryptedBytes]]);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `exports/${row.objectKey}` }));
    // ObjectCreated:Post is s3rver's event for a completed multipart upload (a single PUT is ObjectCreated:Put).
    expect(events).to.deep.equal([`ObjectCreated:Post exports/${row.objectKey}`]);
    expect(sseHeaders).to.deep.equal(["CreateMultipartUploadCommand AES256"]);
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `exports/${row.objectKey}` }));
    const head4 = Buffer.from(await object.Body!.transformToByteArray()).subarray(0, 4).toString();
    expect(head4).to.equal("DSRX");
    const got = await download((await exportLink(t, id)).url);
    expect(got.status).to.equal(200);
    const result = await verifyArchive(got.file!, { portability: true });
    expect(result.problems).to.deep.equal([]);
    expect(result.manifest!.categories).to.have.length(1);
    expect(result.manifest!.categories[0]).to.deep.include({ category: "AUTH_LOGS", records: RECORDS });
    expect(result.manifest!.files.find((f) => f.category === "AUTH_LOGS" && f.format !== "csv")!.path).to.equal("data/auth_logs.jsonl");
    fs.rmSync(path.dirname(got.file!), { recursive: true, force: true });
  });

  it("deletes the object from the bucket when the retention ends", async () => {
    t.clock.advance(31 * 86_400_000);
    const purged = await purgeExpiredExports(t.service.services);
    expect(purged.exports).to.equal(1);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.Contents ?? []).to.deep.equal([]);
  });

  it("keeps a breach roster's file in the bucket, encrypted, serves it decrypted, and deletes it when its retention ends", async () => {
    const roster = await drawRoster(t, ["auth-log"]);
    expect([roster.status, roster.people]).to.deep.equal(["COMPLETED", 1]);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect((listed.Contents ?? []).map((o) => o.Key)).to.deep.equal([`exports/rosters/${roster.id}/1.csv.dsrx`]);
    const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `exports/rosters/${roster.id}/1.csv.dsrx` }))).Body!.transformToByteArray());
    expect(stored.subarray(0, 4).toString()).to.equal("DSRX");
    expect(stored.includes(Buffer.from(ADA_EMAIL))).to.equal(false);
    const { lines } = await downloadRoster(t, roster.id);
    expect(lines.map((l) => [l.emails, l.records])).to.deep.equal([[ADA_EMAIL, String(RECORDS)]]);
    t.clock.advance(31 * 86_400_000);
    expect((await purgeExpiredExports(t.service.services)).rosters).to.equal(1);
    expect((await client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).to.deep.equal([]);
  });
});
