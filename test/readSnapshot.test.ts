import { randomInt } from "node:crypto";
import { expect } from "chai";
import { FINISHED_TASK_STATUSES } from "../src/domain/tasks";
import { describeEachDatabase } from "./support/databases";
import { approved, TestService } from "./support/harness";
import { prng } from "./support/operationFuzzer";
import { ScriptedConnector } from "./support/scriptedConnector";

const FAST = { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_RATE_LIMIT_PER_SECOND: "0" };
const FIELDS = `id status tasks { step status } progress { finished total }`;
const ONE = `query($id: ID!) { request(id: $id) { ${FIELDS} } }`;
const PAGE = `{ requests(first: 50) { edges { node { ${FIELDS} } } } }`;

/**
 * A state no database ever held: the last task's completion settles its request in the same transaction,
 * so a request still IN_PROGRESS has an unfinished task, and an ended one has none (nor do its progress
 * counts disagree with its tasks). Returns what is wrong, or null.
 */
function neverExisted(r: { status: string; tasks: { step: string; status: string }[]; progress: { finished: number; total: number } }): string | null {
  const open = r.tasks.filter((t) => !FINISHED_TASK_STATUSES.includes(t.status as never));
  if (r.status === "IN_PROGRESS" && r.tasks.length && !open.length) return `IN_PROGRESS with every task finished: ${JSON.stringify(r.tasks)}`;
  if ((r.status === "COMPLETED" || r.status === "FAILED") && open.length) return `${r.status} with ${JSON.stringify(open)} still open`;
  // An ACCESS has no closing passes: its progress counts its tasks.
  const finished = r.tasks.length - open.length;
  if (r.progress.total !== r.tasks.length || r.progress.finished !== finished) return `progress ${r.progress.finished}/${r.progress.total} beside ${finished}/${r.tasks.length} tasks finished`;
  return null;
}

/**
 * Invariant 3, for reads: one GraphQL read of a request (and of a page of them) shows one state that
 * existed, while workers complete its tasks between that read's statements.
 */
describeEachDatabase("one read of a request sees one state", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
  });

  it("never shows a request's status beside tasks of another moment, while workers finish them", async function () {
    this.timeout(180_000);
    const seed = process.env.DSR_TEST_READ_SNAPSHOT_SEED ? Number(process.env.DSR_TEST_READ_SNAPSHOT_SEED) : randomInt(2 ** 31);
    console.log(`      seed ${seed} (DSR_TEST_READ_SNAPSHOT_SEED=${seed} replays it)`);
    const rand = prng(seed);
    const connectors = ["account-db", "payments", "tickets"].map((name, i) => {
      const c = new ScriptedConnector({ name, categories: [["ACCOUNT", "PAYMENTS", "SUPPORT"][i]] });
      // Each call waits a little, so the requests finish one step at a time while the reads go on.
      c.delayMs = 5 + Math.floor(rand() * 40);
      return c;
    });
    const svc = (t = await new TestService(db(), FAST, connectors).start());
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) ids.push(await approved(svc, { type: "ACCESS", subject: { email: `person${i}@example.com` } }));

    const wrong: string[] = [];
    let reads = 0;
    const ended = new Set<string>();
    const judge = (r: any) => {
      reads++;
      const problem = neverExisted(r);
      if (problem) wrong.push(`${r.id}: ${problem}`);
      if (r.status === "COMPLETED" || r.status === "FAILED") ended.add(r.id);
    };
    // Readers, each reading one request or a page at seeded moments, until every request has ended.
    const reader = async (n: number) => {
      const mine = prng(seed + n);
      while (ended.size < ids.length) {
        if (mine() < 0.3) (await svc.ok(PAGE)).requests.edges.forEach((e: any) => judge(e.node));
        else judge((await svc.ok(ONE, { id: ids[Math.floor(mine() * ids.length)] })).request);
        if (mine() < 0.2) await new Promise((resolve) => setTimeout(resolve, Math.floor(mine() * 3)));
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(reader));
    console.log(`      ${reads} answers read, ${wrong.length} of a state that never existed`);
    expect(wrong.slice(0, 5), `seed ${seed}`).to.deep.equal([]);
  });
});
