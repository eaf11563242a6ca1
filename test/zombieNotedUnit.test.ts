import { expect } from "chai";
import type { ErasureOutcome, Identities, TaskContext } from "../src/connectors/sdk";
import { describeEachDatabase } from "./support/databases";
import type { TestService } from "./support/harness";
import { deletionPastZombie, HeldFirstAttempt } from "./support/heldZombie";

const ADA = "ada.lovelace@example.com";
const ROWS = 3;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector plannedToErase erased matchesPlan }
  tasks { step status attempts lastError outcome { erased } } } }`;

/**
 * A system that deletes each row in a unit of its own, noted (as the Stripe connector notes a
 * customer's delete), and finishes an earlier attempt's noted delete the way that connector does: a
 * row the note names that is gone is counted once, by a unit that supersedes the note. The first
 * attempt is held (a slow call, a paused process) past its lease, at its first delete (done at the
 * system, its answer held back) or at a unit without a note before its deletes; it is let go while its
 * retry runs: after the retry's deletes, or before them.
 */
class NotedRows extends HeldFirstAttempt {
  constructor(private readonly heldAt: "delete" | "prepare") {
    super("rows");
  }

  protected async run(ids: Identities, ctx: TaskContext): Promise<ErasureOutcome> {
    const first = ctx.attempt === 1;
    if (!first && this.heldAt === "prepare") await this.letZombieGo();
    const rows = () => this.data.get(ids.email!) ?? [];
    let erased = 0;
    for (const note of await ctx.unfinishedUnits()) {
      const [, state, id] = /^row-(delete|counted):(.+)$/.exec(note) ?? [];
      if (state !== "delete" || rows().some((r) => r.id === id)) continue;
      if (await ctx.eraseUnit("ACCOUNT", async () => 1, `row-counted:${id}`, { supersedes: note })) erased += 1;
    }
    if (this.heldAt === "prepare") {
      await ctx.eraseUnit("ACCOUNT", async () => {
        if (first) await this.gate;
        return 0;
      });
    }
    for (const row of [...rows()]) {
      const done = await ctx.eraseUnit("ACCOUNT", () => this.deleteRow(ids.email!, row.id, first && this.heldAt === "delete"), `row-delete:${row.id}`);
      if (done) erased += 1;
    }
    if (!first && this.heldAt === "delete") await this.letZombieGo();
    return { erased };
  }
}

/**
 * An attempt that lost its lease inside a noted unit (its call answered late) is a zombie: its retry
 * gets the note back, finishes the unit's work and counts it. The zombie's unit then ends "well": it
 * used to count the same row again (erased 4 of 3, matchesPlan false) and leave a progress row behind.
 * A noted unit's end is now fenced by the attempt's claim: the zombie's counts nothing.
 */
describeEachDatabase("a noted unit whose attempt lost its lease ends after its retry finished it", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  /** Runs Ada's deletion on `rows` to its end and checks it against what the system lost. */
  async function deletion(rows: NotedRows): Promise<void> {
    rows.seed(ADA, ROWS);
    const { request } = await deletionPastZombie(db(), rows, ADA, SHOW, (started) => (t = started));
    // The system itself: every row gone, each deleted once.
    expect(rows.data.get(ADA) ?? [], "rows left").to.deep.equal([]);
    expect(rows.deleted.slice().sort(), "deletes at the system").to.deep.equal(["rows-0", "rows-1", "rows-2"]);
    const erase = request.tasks.find((x: any) => x.step === "ERASE");
    expect(erase.attempts, "the first attempt lost its lease").to.equal(2);
    expect(request.status, request.statusReason).to.equal("COMPLETED");
    const line = request.deletionOutcome.find((l: any) => l.connector === "rows");
    expect([line.erased, line.plannedToErase, line.matchesPlan], JSON.stringify(line)).to.deep.equal([ROWS, ROWS, true]);
    expect(erase.outcome.erased, "the task's outcome").to.equal(ROWS);
    // Nothing of the zombie's left to count in a later pass.
    expect(await t!.count("erasure_progress"), "progress rows left").to.equal(0);
  }

  it("counts the row once: the retry's count, not the zombie's late one", async function () {
    this.timeout(60_000);
    await deletion(new NotedRows("delete"));
  });

  // The zombie, let go once its retry has read the notes and before it lists the rows, went on to its
  // deletes: with only its ends fenced it would delete a row no retry then finds, and count it nowhere
  // (erased 2 of 3). A noted unit now begins only while its attempt holds the task.
  it("begins no noted unit once the retry has the task: the retry deletes and counts every row", async function () {
    this.timeout(60_000);
    await deletion(new NotedRows("prepare"));
  });
});
