import { expect } from "chai";
import type { ErasureInstruction, ErasureOutcome, Identities, TaskContext } from "../src/connectors/sdk";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const ROWS = 3;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector plannedToErase erased matchesPlan }
  tasks { step status attempts lastError outcome { erased } } } }`;

/**
 * A system that deletes each row in a unit of its own, noted (as the Stripe connector notes a
 * customer's delete), and finishes an earlier attempt's noted delete the way that connector does: a
 * row the note names that is gone is counted once, by a unit that supersedes the note. The first
 * attempt's first delete is done at the system and its answer held back (a slow call, a paused
 * process) until its retry has erased the rest; then it is let go, while the retry still runs.
 */
class NotedRows extends ScriptedConnector {
  /** Each row the system deleted, as often as it did. */
  readonly deleted: string[] = [];
  private release!: () => void;
  private readonly held = new Promise<void>((resolve) => (this.release = resolve));
  /** Settles once the first attempt's held unit has ended (or was refused its end). */
  private zombieEnded?: Promise<void>;

  override async erase(ids: Identities, _instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    const rows = () => this.data.get(ids.email!) ?? [];
    let erased = 0;
    for (const note of await ctx.unfinishedUnits()) {
      const [, state, id] = /^row-(delete|counted):(.+)$/.exec(note) ?? [];
      if (state !== "delete" || rows().some((r) => r.id === id)) continue;
      if (await ctx.eraseUnit("ACCOUNT", async () => 1, `row-counted:${id}`, { supersedes: note })) erased += 1;
    }
    for (const row of [...rows()]) {
      const hold = ctx.attempt === 1 && !this.zombieEnded;
      const unit = ctx.eraseUnit(
        "ACCOUNT",
        async () => {
          if (!rows().some((r) => r.id === row.id)) return 0;
          this.data.set(ids.email!, rows().filter((r) => r.id !== row.id));
          this.deleted.push(row.id);
          if (hold) await this.held;
          return 1;
        },
        `row-delete:${row.id}`,
      );
      if (hold) this.zombieEnded = unit.then(() => undefined, () => undefined);
      if (await unit) erased += 1;
    }
    if (ctx.attempt > 1 && this.zombieEnded) {
      this.release();
      await this.zombieEnded;
    }
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

  it("counts the row once: the retry's count, not the zombie's late one", async function () {
    this.timeout(60_000);
    const rows = new NotedRows({ name: "rows", categories: ["ACCOUNT"] }).seed(ADA, ROWS);
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1200" }, [rows]).start();
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const request = await t.waitFor(
      async () => {
        t!.clock.advance(500);
        const { request } = await t!.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
      },
      "request ended",
      40_000,
    );
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
    expect(await t.count("erasure_progress"), "progress rows left").to.equal(0);
  });
});
