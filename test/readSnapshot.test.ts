import { randomInt } from "node:crypto";
import { expect } from "chai";
import { FINISHED_TASK_STATUSES } from "../src/domain/tasks";
import { describeEachDatabase } from "./support/databases";
import { approved, TestService } from "./support/harness";
import { Role } from "../src/domain/enums";
import type { TestDatabase } from "./support/databases";
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

type Judge = (answer: any) => string | null;

/**
 * A seeded interleaving: `people` requests (their type drawn by `type`) at work with three connectors
 * whose calls wait a little, so the requests finish one step at a time, and six callers each doing
 * `call` at seeded moments until every request has ended. Each answer `call` returns is judged; returns
 * the count and the first few answers of a state that never existed.
 */
async function interleave(
  db: () => TestDatabase,
  started: (svc: TestService) => void,
  options: {
    people: number;
    type: (rand: () => number) => string;
    /** Submits and approves person `i`'s request; by default as approveRequest does. */
    submit?: (svc: TestService, type: string, email: string, i: number) => Promise<string>; call: (svc: TestService, ids: string[], rand: () => number) => Promise<any[]>; judge: Judge },
): Promise<{ seed: number; reads: number; wrong: string[] }> {
  const seed = process.env.DSR_TEST_READ_SNAPSHOT_SEED ? Number(process.env.DSR_TEST_READ_SNAPSHOT_SEED) : randomInt(2 ** 31);
  console.log(`      seed ${seed} (DSR_TEST_READ_SNAPSHOT_SEED=${seed} replays it)`);
  const rand = prng(seed);
  const connectors = ["account-db", "payments", "tickets"].map((name, i) => {
    const c = new ScriptedConnector({ name, categories: [["ACCOUNT", "PAYMENTS", "SUPPORT"][i]] });
    c.delayMs = 5 + Math.floor(rand() * 40);
    return c;
  });
  // The tickets connector cannot search one kind of record: its collects say so (notSearched).
  connectors[2].notSearched = [{ category: "SUPPORT", type: "guest_ticket", reason: "no search by email" }];
  const svc = await new TestService(db(), FAST, connectors).start();
  started(svc);
  const ids: string[] = [];
  for (let i = 0; i < options.people; i++) {
    const email = `person${i}@example.com`;
    // Every system holds something of every person: each survey plans a line, each erasure has an outcome.
    for (const c of connectors) c.seed(email, 2);
    const type = options.type(rand);
    ids.push(await (options.submit ?? ((svc, type, email) => approved(svc, { type, subject: { email } })))(svc, type, email, i));
  }
  const wrong: string[] = [];
  let reads = 0;
  const ended = new Set<string>();
  const caller = async (n: number) => {
    const mine = prng(seed + n);
    while (ended.size < ids.length) {
      for (const r of await options.call(svc, ids, mine)) {
        reads++;
        const problem = options.judge(r);
        if (problem) wrong.push(`${r.id}: ${problem}`);
        if (r.status === "COMPLETED" || r.status === "FAILED") ended.add(r.id);
      }
      if (mine() < 0.2) await new Promise((resolve) => setTimeout(resolve, Math.floor(mine() * 3)));
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5].map(caller));
  console.log(`      ${reads} answers read, ${wrong.length} of a state that never existed`);
  return { seed, reads, wrong };
}

/**
 * Invariant 3, for reads: one GraphQL read of a request (and of a page of them) shows one state that
 * existed, while workers complete its tasks between that read's statements; so does a mutation's answer.
 */
describeEachDatabase("one read of a request sees one state", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
  });
  const keep = (svc: TestService) => (t = svc);

  it("never shows a request's status beside tasks of another moment, while workers finish them", async function () {
    this.timeout(180_000);
    const { seed, wrong } = await interleave(db, keep, {
      people: 24,
      type: () => "ACCESS",
      call: async (svc, ids, mine) =>
        mine() < 0.3 ? (await svc.ok(PAGE)).requests.edges.map((e: any) => e.node) : [(await svc.ok(ONE, { id: ids[Math.floor(mine() * ids.length)] })).request],
      judge: neverExisted,
    });
    expect(wrong.slice(0, 5), `seed ${seed}`).to.deep.equal([]);
  });

  it("never shows a request's plan, outcome, unsearched kinds, trail or export beside tasks of another moment", async function () {
    this.timeout(240_000);
    const { seed, wrong } = await interleave(db, keep, {
      people: 16,
      type: (rand) => (rand() < 0.5 ? "DELETION" : "ACCESS"),
      call: async (svc, ids, mine) =>
        mine() < 0.3 ? (await svc.ok(FULL_PAGE)).requests.edges.map((e: any) => e.node) : [(await svc.ok(FULL_ONE, { id: ids[Math.floor(mine() * ids.length)] })).request],
      judge: (r) => impossibleMix(r, UNSEARCHING),
    });
    expect(wrong.slice(0, 5), `seed ${seed}`).to.deep.equal([]);
  });

  it("answers a mutation with one state: the request it changed beside its tasks, plan, trail and export of the same moment", async function () {
    this.timeout(240_000);
    const keyed = new Set<number>();
    const { seed, wrong } = await interleave(db, keep, {
      people: 16,
      type: (rand) => (rand() < 0.5 ? "DELETION" : "ACCESS"),
      // Half the people delete their account on the settings page (a DELETION, approved at once).
      submit: async (svc, type, email, i) =>
        type === "DELETION" && keyed.add(i) ? (await svc.ok(SETTINGS_DELETION, { input: { idempotencyKey: `settings-key-${i}`, subject: { email } } }, Role.SERVICE)).requestAccountDeletion.id : approved(svc, { type, subject: { email } }),
      // The answer is the request the mutation changed (or found), read while its tasks finish and others
      // change it: a deadline a day later (60 at most in all), or the settings page's call again (its key
      // answers with the request it made).
      call: async (svc, ids, mine) => {
        const i = Math.floor(mine() * ids.length);
        const res = keyed.has(i) && mine() < 0.5 ? await svc.gql(SETTINGS_DELETION, { input: { idempotencyKey: `settings-key-${i}`, subject: { email: `person${i}@example.com` } } }, Role.SERVICE) : await svc.gql(EXTEND, { id: ids[i], reason: "more time needed" });
        if (!res.errors?.length) return [res.data.extendDeadline ?? res.data.requestAccountDeletion];
        // An ended request has no deadline to extend; past 60 days, neither.
        expect(res.errors[0].extensions.code, JSON.stringify(res.errors)).to.equal("CONFLICT");
        return (await svc.ok(PAGE)).requests.edges.map((e: any) => e.node).filter((r: any) => r.status === "COMPLETED" || r.status === "FAILED");
      },
      judge: (r) => (r.type ? impossibleMix(r, UNSEARCHING) : null),
    });
    expect(wrong.slice(0, 5), `seed ${seed}`).to.deep.equal([]);
  });
});

const UNSEARCHING = new Set(["tickets"]);
const ALL_FIELDS = `id type status extendedDays tasks { step connector status } progress { finished total } notSearched { connector }
  deletionPlan { connector } deletionOutcome { connector } auditEvents { action details } export { id }`;
const FULL_ONE = `query($id: ID!) { request(id: $id) { ${ALL_FIELDS} } }`;
// SERVICE reads no audit events (their field is FORBIDDEN to it).
const SETTINGS_DELETION = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { ${ALL_FIELDS.replace("auditEvents { action details }", "")} } }`;
const EXTEND = `mutation($id: ID!, $reason: String!) { extendDeadline(id: $id, days: 1, reason: $reason) { ${ALL_FIELDS} } }`;
// The API's cost limit lets a page ask for fewer of them at once.
const FULL_PAGE = `{ requests(first: 50) { edges { node { id type status tasks { step connector status } deletionPlan { connector } deletionOutcome { connector } auditEvents { details } export { id } } } } }`;

/**
 * A mix no database ever held, between a request's tasks and what is written with them in one
 * transaction: a survey (a deletion's COLLECT) stores its plan lines as it succeeds, a collect its
 * unsearched kinds and an erasure its outcome in the task's own row, an EXPORT its export, and every
 * move of the request its audit event. Returns what is wrong, or null.
 */
function impossibleMix(r: any, unsearching: ReadonlySet<string>): string | null {
  const deletion = r.type === "DELETION";
  // A deletion's progress also counts its closing passes; a page does not ask for it.
  const mismatch = neverExisted(r.progress ? r : { ...r, progress: { finished: 0, total: r.tasks.length } });
  if (mismatch && !((deletion || !r.progress) && mismatch.startsWith("progress"))) return mismatch;
  const succeeded = (step: string) => r.tasks.filter((t: any) => t.step === step && t.status === "SUCCEEDED").map((t: any) => t.connector as string);
  const same = (a: string[], b: string[]) => JSON.stringify([...new Set(a)].sort()) === JSON.stringify([...new Set(b)].sort());
  const collected = succeeded("COLLECT");
  const notSearched = r.notSearched?.map((n: any) => n.connector);
  if (notSearched && !same(notSearched, collected.filter((c: string) => unsearching.has(c)))) return `notSearched ${JSON.stringify(notSearched)} beside collects done by ${JSON.stringify(collected)}`;
  if (deletion) {
    const planned = r.deletionPlan.map((l: any) => l.connector);
    if (!same(planned, collected)) return `a plan of ${JSON.stringify(planned)} beside surveys done by ${JSON.stringify(collected)}`;
    const outcome = r.deletionOutcome.map((l: any) => l.connector);
    const erased = succeeded("ERASE");
    if (!same(outcome, erased)) return `an outcome of ${JSON.stringify(outcome)} beside erasures done by ${JSON.stringify(erased)}`;
  } else if ((r.export !== null) !== (succeeded("EXPORT").length > 0)) {
    return `export ${JSON.stringify(r.export)} beside ${JSON.stringify(r.tasks.filter((t: any) => t.step === "EXPORT"))}`;
  }
  // Each extension is one event of the trail, written with the row's new total.
  if (!r.auditEvents) return null;
  const extended = r.auditEvents.filter((e: any) => e.action === "request.deadline_extended").reduce((n: number, e: any) => n + e.details.days, 0);
  if (r.extendedDays !== undefined && r.auditEvents[0]?.action !== undefined && extended !== r.extendedDays) return `extended by ${r.extendedDays} days beside a trail of ${extended}`;
  const moves = r.auditEvents.filter((e: any) => typeof e.details?.to === "string");
  const last = moves[moves.length - 1]?.details.to;
  if (last !== undefined && last !== r.status) return `${r.status} beside a trail whose last move is to ${last}`;
  return null;
}
