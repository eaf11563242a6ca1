import { expect } from "chai";
import type { Connector, TaskContext } from "../../src/connectors/sdk";
import type { SqlConnector } from "../../src/connectors/sql";
import { createMariadbDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { step status attempts outcome { changed notHeld } } } }`;
const OLDER = "Augusta Ada King";
const NEWER = "Ada King";

/** A gate a test opens once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * The account database, whose first rectify call is held past its lease at its first unit: before the
 * unit begins ("begin"), inside it before its UPDATE ("write"), or inside it once its UPDATE committed
 * ("end": the unit's end held back). It
 * goes on when the test lets it go; its signal is not aborted then (a process stalled past the lease
 * notices nothing until its next write).
 */
class HeldRectify {
  readonly entered = gate();
  private readonly release = gate();
  /** The held call, settled. */
  private call?: Promise<unknown>;

  constructor(private readonly at: "begin" | "write" | "end") {}

  readonly wrap = (inner: SqlConnector): Connector => ({
    ...inner,
    rectify: (ids, changes, ctx) => {
      if (this.call) return inner.rectify(ids, changes, ctx);
      let held = false;
      const eraseUnit: TaskContext["eraseUnit"] = async (category, work, ...rest) => {
        if (held) return ctx.eraseUnit(category, work, ...rest);
        held = true;
        const hold = async () => (this.entered.open(), await this.release.opened);
        if (this.at === "begin") return hold().then(() => ctx.eraseUnit(category, work, ...rest));
        if (this.at === "write") return ctx.eraseUnit(category, async () => (await hold(), work()), ...rest);
        return ctx.eraseUnit(
          category,
          async () => {
            const wrote = await work();
            await hold();
            return wrote;
          },
          ...rest,
        );
      };
      const run = inner.rectify(ids, changes, { ...ctx, eraseUnit });
      this.call = run.catch(() => undefined);
      return run;
    },
  });

  /** Lets the held call go on, and waits for it to end. */
  async letGo(): Promise<void> {
    this.release.open();
    await this.call;
  }
}

/**
 * A correction's RECTIFY attempt whose lease was taken back while its process stalled is a zombie: a
 * retry took its task and completed it. Whatever the zombie does once it goes on must change neither
 * the account database beyond what the requests report nor the service's counts.
 */
describeEachDatabase("a correction's attempt that lost its lease, going on after its retry completed", (db) => {
  let service: AccountDbService | undefined;
  let held: HeldRectify | undefined;
  let accountDb: TestDatabase | undefined;
  afterEach(async () => {
    await held?.letGo();
    await service?.stop();
    await accountDb?.drop();
    service = held = accountDb = undefined;
  });

  const correct = async (name: string) => {
    const { t } = service!;
    t.clock.advance(1000);
    const r = await submit(t, { type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: name }], identityVerified: true, verificationEvidence: "signed-in session" });
    expect((await t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id })).errors).to.equal(undefined);
    return r.id as string;
  };
  const ended = (id: string) =>
    service!.t.waitFor(async () => {
      const { request } = await service!.t.ok(SHOW, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "correction ended", 30_000);
  const name = async () => (await service!.account.rows(`SELECT name FROM users WHERE id = ?`, [Number(ADA.userId)]))[0].name;

  /**
   * Holds correction `OLDER`'s first attempt at `at`, takes its lease back (backdated: its process
   * notices nothing), and waits for its retry to complete it; answers the correction's id and its request.
   */
  const zombieAfterRetry = async (at: "begin" | "write" | "end") => {
    held = new HeldRectify(at);
    // A lease longer than the test takes (leases are swept every half lease): the zombie's own timer
    // never tells it the lease is gone.
    accountDb = db().kind === "mariadb" ? await createMariadbDatabase() : undefined;
    service = await accountDbService(db(), undefined, accountDb, held.wrap, { DSR_TASK_LEASE_MS: "20000" });
    const first = await correct(OLDER);
    await held.entered.opened;
    await service.t.ds.query(`UPDATE tasks SET leaseExpiresAt = '2000-01-01 00:00:00.000' WHERE requestId = ? AND step = 'RECTIFY'`, [first]);
    const done = await ended(first);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.tasks.find((x: any) => x.step === "RECTIFY")).to.deep.include({ attempts: 2, outcome: { changed: ["name"], notHeld: [] } });
    return { first, done };
  };

  /**
   * Lets the zombie go once the account database holds `value`: it must hold `value` still, the
   * correction's report (`done`) stay as it was, and no count or unit be left behind.
   */
  const zombieGoesOn = async (first: string, done: any, value: string) => {
    expect(await name()).to.equal(value);
    await held!.letGo();
    expect(await name(), "the account database after the zombie went on").to.equal(value);
    expect((await service!.t.ok(SHOW, { id: first })).request, "the zombie's correction's report").to.deep.equal(done);
    expect(await service!.t.count("erasure_progress"), "counts left behind").to.equal(0);
    expect(await service!.t.count("erasure_units"), "units left behind").to.equal(0);
  };

  // The zombie, held before its first unit, went on after a later correction of the field completed: it
  // began its unit and wrote the older value over the newer one (name OLDER, the later request
  // COMPLETED with NEWER), and left a count behind for the completed task.
  it("begins no unit once a later correction of the field completed: the newer value stays", async function () {
    this.timeout(90_000);
    const { first, done } = await zombieAfterRetry("begin");
    // Its whole call is a unit until its first own unit: the later correction is approved once that ran out.
    service!.t.clock.advance(20_000);
    const second = await correct(NEWER);
    expect((await ended(second)).status).to.equal("COMPLETED");
    await zombieGoesOn(first, done, NEWER);
  });

  // The zombie's unit began under its claim and its UPDATE committed; the retry, seeing the unit, found
  // the name written and completed. The zombie's unit then ended and counted its write for a task whose
  // completion had dropped its counts: a count left behind.
  it("counts nothing once its task completed: no count is left behind", async function () {
    this.timeout(90_000);
    const { first, done } = await zombieAfterRetry("end");
    await zombieGoesOn(first, done, OLDER);
  });

  // The zombie's unit began under its claim, its UPDATE not yet sent, and its retry completed the
  // correction: a later correction of the field was approved (the earlier one had ended), wrote its value
  // and COMPLETED; the zombie's UPDATE then landed, within its unit's time: name OLDER, the later
  // correction COMPLETED with NEWER.
  it("is not approved while an earlier correction of the field that ended still has a write under way (CONFLICT naming it), and once that ended the newer value stays", async function () {
    this.timeout(90_000);
    await zombieAfterRetry("write");
    service!.t.clock.advance(1000);
    const r = await submit(service!.t, { type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: NEWER }], identityVerified: true, verificationEvidence: "signed-in session" });
    const approve = () => service!.t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const refused = await approve();
    expect(refused.errors?.map((e) => e.extensions.code), "approved while the earlier correction still writes").to.deep.equal(["CONFLICT"]);
    expect(refused.errors![0].message).to.match(/received earlier for the same person, also changes name: it ended, yet a write of it begun before is still under way in account-db/);
    await held!.letGo();
    expect((await approve()).errors).to.equal(undefined);
    expect((await ended(r.id)).status).to.equal("COMPLETED");
    expect(await name(), "the account database after both").to.equal(NEWER);
  });
});
