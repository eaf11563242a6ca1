import { expect } from "chai";
import { ConnectorError, Identities, SubjectRecord, TaskContext } from "../src/connectors/sdk";
import { ZipReader } from "../src/export/zipReader";
import { describeEachDatabase } from "./support/databases";
import { download, exportLink } from "./export/support";
import { approved, ended, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
/** Enough of Ada's records (about 300 bytes each) to fill several staged batches (256 KiB) before the failure. */
const RECORDS = 4000;
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { id step status attempts lastError outcome { records } } } }`;

/** A system whose first collect gives up for good after `failAfter` records; later ones give every record. */
class FailingOnceCollect extends ScriptedConnector {
  private failed = false;
  constructor(private readonly failAfter: number) {
    super({ name: "account-db", categories: ["ACCOUNT"] });
    this.data.set(
      ADA,
      Array.from({ length: RECORDS }, (_, i) => ({ category: "ACCOUNT", type: "row", id: `row-${i}`, data: { n: i, note: `sign-in ${i} `.padEnd(260, "x") } })),
    );
  }

  override async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
    let n = 0;
    for await (const record of super.collect(ids, ctx)) {
      if (!this.failed && n++ === this.failAfter) {
        this.failed = true;
        throw new ConnectorError("The system refused the export of the rest", "scripted fatal failure mid-collect", false);
      }
      yield record;
    }
  }
}

/**
 * An operator's retryTask of a COLLECT that FAILED for good after it had staged batches. The retry's run
 * starts its attempts from 1 again, and staged batches are numbered by attempt: the failed attempt 1's
 * batches were still there. Before: the retried run's first batch hit their numbers (a duplicate key),
 * and the retry failed again, every time, while nothing was wrong with the system any more.
 */
describeEachDatabase("retryTask of a COLLECT that failed after staging records", (db) => {
  let t: TestService;
  afterEach(() => t?.stop());

  it("collects everything again and exports each record once", async function () {
    this.timeout(120_000);
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_MAX_ATTEMPTS: "1" }, [new FailingOnceCollect(3000)]).start();
    const id = await approved(t, { type: "ACCESS", subject: { email: ADA } });
    const failed = await ended(t, SHOW, id);
    expect(failed.status).to.equal("FAILED");
    const collect = failed.tasks.find((x: any) => x.step === "COLLECT");
    expect(collect.status).to.equal("FAILED");
    const [{ n: staged }] = await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE taskId = ?`, [collect.id]);
    expect(Number(staged), "the failed attempt had staged batches").to.be.greaterThan(0);

    await t.ok(`mutation($id: ID!) { retryTask(id: $id) { id status } }`, { id: collect.id });
    const done = await ended(t, SHOW, id);
    expect(done.status, JSON.stringify(done.tasks)).to.equal("COMPLETED");
    expect(done.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(RECORDS);

    // The archive holds each of Ada's records once: none of the failed attempt's twice.
    const got = await download((await exportLink(t, id)).url);
    const zip = ZipReader.open(got.file!);
    try {
      const rows: { id: string }[] = JSON.parse(await zip.text("data/account.json"));
      expect(rows).to.have.length(RECORDS);
      expect(new Set(rows.map((r) => r.id)).size).to.equal(RECORDS);
    } finally {
      zip.close();
    }
  });
});
