import { expect } from "chai";
import type { ErasureOutcome, Identities, TaskContext } from "../src/connectors/sdk";
import { describeEachDatabase } from "./support/databases";
import type { TestService } from "./support/harness";
import { deletionPastZombie, HeldFirstAttempt } from "./support/heldZombie";

const ADA = "ada.lovelace@example.com";
const ROWS = 3;
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector plannedToErase erased matchesPlan differences { kind records } }
  tasks { step status attempts outcome { erased } } } }`;

/**
 * A system that deletes each row in a unit of its own, without a note (as the SQL connector's batches
 * are). The first attempt is held past its lease, with its retry run to the end meanwhile: inside its
 * first delete ("delete": the row deleted at the system, the answer held back), or before any unit
 * ("prepare"). It is let go once the request has ended.
 */
class UnnotedRows extends HeldFirstAttempt {
  constructor(private readonly heldAt: "delete" | "prepare") {
    super("rows");
  }

  protected async run(ids: Identities, ctx: TaskContext): Promise<ErasureOutcome> {
    const first = ctx.attempt === 1;
    if (first && this.heldAt === "prepare") await this.gate;
    let erased = 0;
    for (const row of [...(this.data.get(ids.email!) ?? [])]) {
      const done = await ctx.eraseUnit("ACCOUNT", () => this.deleteRow(ids.email!, row.id, first && this.heldAt === "delete"));
      if (done) erased += 1;
    }
    return { erased };
  }
}

/**
 * An attempt that lost its lease is a zombie: its retry runs the erasure to its end. What the zombie
 * does once let go must change neither the request's report nor the system beyond what it reports.
 */
describeEachDatabase("a unit without a note, of an attempt that lost its lease", (db) => {
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  /** Runs Ada's deletion on `rows` to its end (the zombie still held), then lets the zombie go; returns the request as read before and after. */
  async function deletion(rows: UnnotedRows, afterEnd?: () => void): Promise<{ before: any; after: any }> {
    rows.seed(ADA, ROWS);
    const { request: before } = await deletionPastZombie(db(), rows, ADA, SHOW, (started) => (t = started));
    afterEnd?.();
    await rows.letZombieGo();
    const { request: after } = await t!.ok(SHOW, { id: before.id });
    const erase = before.tasks.find((x: any) => x.step === "ERASE");
    expect(erase.attempts, "the first attempt lost its lease").to.equal(2);
    expect(before.status, before.statusReason).to.equal("COMPLETED");
    return { before, after };
  }

  // The zombie's delete outlasts the retry's wait for it: the retry counts the 2 rows it deleted and
  // names the third as gone before it ran. The zombie, let go after the completion, used to count its
  // row then (a progress row of 1 left behind, which a closing pass of the task would add to its count).
  it("counts nothing once the retry has counted without it: the report stays as the system holds it", async function () {
    this.timeout(60_000);
    const rows = new UnnotedRows("delete");
    const { before, after } = await deletion(rows);
    // The system itself: every row gone, each deleted once.
    expect(rows.data.get(ADA) ?? [], "rows left").to.deep.equal([]);
    expect(rows.deleted.slice().sort(), "deletes at the system").to.deep.equal(["rows-0", "rows-1", "rows-2"]);
    const line = before.deletionOutcome.find((l: any) => l.connector === "rows");
    // Erased and named as gone before the erasure reached it: the 3 the system lost, each once.
    const fewer = line.differences.filter((d: any) => d.kind === "FEWER_RECORDS").reduce((n: number, d: any) => n + d.records, 0);
    expect([line.plannedToErase, line.erased + fewer], JSON.stringify(line)).to.deep.equal([ROWS, ROWS]);
    expect(after.deletionOutcome, "the report after the zombie ended").to.deep.equal(before.deletionOutcome);
    expect(after.tasks, "the tasks after the zombie ended").to.deep.equal(before.tasks);
    expect(await t!.count("erasure_progress"), "counts left behind for a later pass").to.equal(0);
  });

  // The zombie, held before its first unit, is let go after the request completed and the person
  // recorded a new row: it used to begin units with its lease lost and delete that row, which no
  // request asked for and none reports. Its aborted attempt now begins no unit.
  it("begins no unit once its lease is lost: a row recorded after the completion stays", async function () {
    this.timeout(60_000);
    const rows = new UnnotedRows("prepare");
    const fresh = { category: "ACCOUNT", type: "row", id: "rows-new", data: { n: 9 } };
    const { before, after } = await deletion(rows, () => rows.data.set(ADA, [...(rows.data.get(ADA) ?? []), fresh]));
    expect((rows.data.get(ADA) ?? []).map((r) => r.id), "rows at the system").to.deep.equal(["rows-new"]);
    expect(rows.deleted.slice().sort(), "deletes at the system").to.deep.equal(["rows-0", "rows-1", "rows-2"]);
    const line = before.deletionOutcome.find((l: any) => l.connector === "rows");
    expect([line.erased, line.plannedToErase, line.matchesPlan], JSON.stringify(line)).to.deep.equal([ROWS, ROWS, true]);
    expect(after.deletionOutcome, "the report after the zombie ended").to.deep.equal(before.deletionOutcome);
    expect(await t!.count("erasure_progress"), "counts left behind for a later pass").to.equal(0);
  });
});
