import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { SYSTEM_ACTOR } from "../../src/audit/actor";
import { inTransaction } from "../../src/db/transaction";
import { StagedBatchRow, TaskRow } from "../../src/entities";
import { claimTask } from "../../src/orchestrator/sql/claimTask";
import { completeTask } from "../../src/orchestrator/sql/completeTask";
import { retryTask } from "../../src/orchestrator/sql/retryTask";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { deferred, parkEverything, recordRows, runnableCollects, stageRecordChunk, stagedCount } from "./support";

const WORKER = "worker-a";

describeEachDatabase("every write commits with its own transaction or alone", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db()).start();
  });
  after(async () => {
    await t?.stop();
  });
  afterEach(() => parkEverything(t));

  /**
   * The reported loss, step by step: a command's transaction is open (it ends in CONFLICT); a
   * 200-record chunk is written meanwhile from outside it; the command rolls back; the COLLECT completes
   * counting 200. The records must still be there, counted in the table.
   */
  async function chunkDuringConflict(write: (task: TaskRow, rows: StagedBatchRow[]) => Promise<unknown>): Promise<void> {
    const [task] = await runnableCollects(t, 1);
    const claimed = (await claimTask(t.ds, WORKER, t.clock.now(), 60_000))!;
    expect(claimed.id).to.equal(task.id);
    const exportTask = await t.ds.getRepository(TaskRow).findOneByOrFail({ requestId: task.requestId, step: "EXPORT" as TaskRow["step"] });
    const opened = deferred();
    const hold = deferred();
    const command = inTransaction(t.ds, async (em) => {
      await em.getRepository(TaskRow).findOneByOrFail({ id: exportTask.id });
      opened.resolve();
      await hold.promise;
      return retryTask(em, exportTask.id, SYSTEM_ACTOR, t.clock.now(), 1440, 30); // PENDING, not FAILED: CONFLICT
    });
    await opened.promise;
    // Issued from outside the command (this test's own context), while the command's transaction is open.
    const staged = write(claimed, recordRows(claimed, 200));
    await new Promise((r) => setTimeout(r, 50));
    hold.resolve();
    const refused = await command.then(
      () => null,
      (error) => error,
    );
    expect(refused?.code).to.equal("CONFLICT");
    await staged;
    expect(await stagedCount(t, claimed.id)).to.equal(200);
    expect(await completeTask(t.ds, claimed, WORKER, { records: 200 }, t.clock.now())).to.equal(true);
    expect(await stagedCount(t, claimed.id)).to.equal(200);
  }

  it("keeps a staged chunk written through the runner's guarded path while an unrelated command rolls back", async () => {
    await chunkDuringConflict(async (task, rows) => expect(await stageRecordChunk(t.ds, task, WORKER, rows)).to.equal(true));
  });

  it("keeps a lone write on the DataSource (the old runner's bare insert) out of a transaction that rolls back", async () => {
    await chunkDuringConflict((_task, rows) => t.ds.getRepository(StagedBatchRow).insert(rows));
  });

  it("lets no statement see another transaction's uncommitted rows", async () => {
    const [task] = await runnableCollects(t, 1);
    const opened = deferred();
    const hold = deferred();
    const tx = inTransaction(t.ds, async (em) => {
      await em.getRepository(TaskRow).update({ id: task.id }, { note: "uncommitted" });
      opened.resolve();
      await hold.promise;
      throw new Error("rolled back");
    });
    await opened.promise;
    const read = t.ds.getRepository(TaskRow).findOneByOrFail({ id: task.id });
    setTimeout(() => hold.resolve(), 30);
    await tx.catch(() => undefined);
    expect((await read).note).to.equal(null);
  });

  it("refuses a transaction opened past inTransaction, and inTransaction inside inTransaction, on SQLite", async function () {
    if (db().kind !== "sqlite") this.skip();
    let bypass: Error | null = null;
    await t.ds.transaction(async () => undefined).catch((error) => (bypass = error));
    expect(bypass!.message).to.match(/opened only by inTransaction/);
    const nested = await inTransaction(t.ds, () => inTransaction(t.ds, async () => 1)).catch((error) => error);
    expect(nested.message).to.match(/inTransaction inside a transaction/);
  });
});

/** The source tree keeps the rule: nothing but src/db opens transactions on, or connections to, the service database. */
describe("the write rule in the source tree", () => {
  const root = path.resolve(__dirname, "..", "..", "..", "src");
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
  const sources = files(root).map((file) => ({ file: path.relative(root, file), text: fs.readFileSync(file, "utf8") }));
  /** Files that own other databases than the service's (a connector's, the sample systems'). */
  const OTHER_DATABASES = new Set(["connectors/sql/database.ts", "sample/workspace.ts", "sample/authLog.ts", "sample/accountDb.ts"]);

  const offenders = (pattern: RegExp, allowed: (file: string) => boolean) =>
    sources.filter((s) => !allowed(s.file) && pattern.test(s.text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""))).map((s) => s.file);

  it("opens transactions only in src/db (inTransaction)", () => {
    expect(offenders(/\.transaction\(|startTransaction\(|createQueryRunner\(/, (f) => f.startsWith("db/") || OTHER_DATABASES.has(f))).to.deep.equal([]);
  });

  it("creates the service's DataSource only in src/db (so its SQLite connection is always queued)", () => {
    expect(offenders(/new DataSource\(/, (f) => f === "db/dataSource.ts" || OTHER_DATABASES.has(f))).to.deep.equal([]);
  });

  it("writes on the DataSource itself (alone, outside any transaction) only where a single statement is meant to commit alone", () => {
    /** Each a one-statement write that belongs to no transaction; a new one is added here on purpose. */
    const ALONE: Record<string, string> = {
      "callbacks/dispatcher.ts": "claims an outbox row by a conditional update, then records the delivery attempt",
      "export/records.ts": "drops staged records after the export's completion committed",
      "export/staging.ts": "removes a request's staging key before its batches (deleteStaged); the batches, and an abandoned attempt's once its retry completed, go a few per statement through db/deleteMatching.ts",
      "orchestrator/sql/extendLease.ts": "the heartbeat: one guarded update",
      "orchestrator/holdFence.ts": "units of erasure begin, end and follow the lease one statement at a time, so a hold placement sees each at once",
      "orchestrator/sql/schedulePurges.ts": "re-points an open exception at the hold that now keeps it",
      "orchestrator/wake.ts": "a worker lists itself in wake_endpoints, refreshes and removes its row, one statement each (MySQL only: on SQLite there is no channel)",
    };
    const lone = /\b(?:ds|this\.ds|services\.ds)\s*\.\s*getRepository\([^)]*\)\s*\.\s*(?:insert|update|delete|upsert|increment|decrement)\(|\b(?:ds|this\.ds|services\.ds)\s*\.\s*query\(\s*[`'"]\s*(?:INSERT|UPDATE|DELETE)/i;
    expect(offenders(lone, (f) => f in ALONE || f.startsWith("db/") || OTHER_DATABASES.has(f))).to.deep.equal([]);
  });

  it("never saves or removes through a repository (TypeORM would open a transaction of its own)", () => {
    expect(offenders(/getRepository\([^)]*\)\s*\.\s*(save|remove|softRemove|recover)\(|\.manager\.(save|remove|transaction)\(/, (f) => OTHER_DATABASES.has(f))).to.deep.equal([]);
  });
});
