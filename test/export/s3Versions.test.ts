import { expect } from "chai";
import { purgeExpiredExports } from "../../src/export/purge";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { VersionedS3 } from "../support/versionedS3";
import { ADA_EMAIL, completedRequest, download, exportLink, FAST } from "./support";
import { awsCredentials } from "../support/awsCredentials";

const BUCKET = "dsr-exports-locked";

/**
 * Exports in a bucket with versioning on (as Object Lock, which the audit checkpoints use, turns it on):
 * an export past DSR_EXPORT_RETENTION_DAYS must leave no version of itself behind. Before, the purge's
 * delete only added a delete marker, and the export (encrypted, its data key wrapped in its header)
 * stayed in the bucket as a noncurrent version for ever.
 */
describeEachDatabase("exports in a versioned S3 bucket past their retention", (db) => {
  let s3: VersionedS3;
  let t: TestService;
  let restoreCredentials: (() => void) | undefined;
  beforeEach(async () => {
    s3 = new VersionedS3(BUCKET);
    await s3.start();
    restoreCredentials = awsCredentials("VERSIONED");
  });
  afterEach(async () => {
    await t?.stop();
    await s3.stop();
    restoreCredentials?.();
  });

  it("removes every version of the export, not only the current one", async function () {
    this.timeout(60_000);
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"] }).seed(ADA_EMAIL, 3);
    t = await new TestService(db(), { ...FAST, DSR_EXPORT_STORAGE: "s3", DSR_S3_BUCKET: BUCKET, DSR_S3_ENDPOINT: s3.url }, [accounts]).start();
    const id = await completedRequest(t);
    const [row] = await t.ds.query(`SELECT objectKey FROM exports WHERE requestId = ?`, [id]);
    // The service keeps exports under the bucket's exports/ prefix.
    const key = `exports/${row.objectKey}`;
    expect(s3.held(""), "the export, one version").to.deep.equal([{ key, marker: false }]);
    expect((await download((await exportLink(t, id)).url)).status).to.equal(200);

    t.clock.advance(31 * 86_400_000);
    expect((await purgeExpiredExports(t.service.services)).exports).to.equal(1);
    expect(s3.held(""), "versions left in the bucket").to.deep.equal([]);
  });
});
