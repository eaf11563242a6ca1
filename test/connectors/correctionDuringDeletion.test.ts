import { expect } from "chai";
import mysql from "mysql2/promise";
import { ConnectorError, type Connector } from "../../src/connectors/sdk";
import { createMariadbDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { submit } from "../support/harness";
import { ADA, ADA_SESSIONS } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { id connector step status lastError attempts } deletionOutcome { connector plannedToErase erased matchesPlan } } }`;
const APPROVE = `mutation($id: ID!) { approveRequest(id: $id) { id status } }`;
const NEW = "ada.renamed@example.net";

/**
 * A correction of the address made while a deletion of the person was at work took the account out of
 * the deletion's reach: the deletion COMPLETED having erased 0 of the 1,203 records it planned, and the
 * account database still held Ada's row (under the new address) and her sessions.
 */
describeEachDatabase("a correction of the address while a deletion of the person is at work", (db) => {
  let service: AccountDbService | undefined;
  let open: () => void = () => undefined;
  let accountDb: TestDatabase | undefined;
  afterEach(async () => {
    open();
    await service?.stop();
    service = undefined;
    await accountDb?.drop();
    accountDb = undefined;
  });
  /** The account database on the service's kind of database (SQLite: a file of its own, made by accountDbService). */
  const accountOn = async () => (accountDb = db().kind === "mariadb" ? await createMariadbDatabase() : undefined);

  const correction = () => ({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "email", value: NEW }], identityVerified: true, verificationEvidence: "signed-in session" });
  const deletion = () => ({ type: "DELETION", subject: { email: ADA.email }, identityVerified: true, verificationEvidence: "signed-in session" });
  const ended = (id: string) =>
    service!.t.waitFor(async () => {
      service!.t.clock.advance(500);
      const { request } = await service!.t.ok(SHOW, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "request ended", 30_000);
  const adaHeld = async () => {
    const [{ n }] = await service!.account.rows(`SELECT (SELECT COUNT(*) FROM users WHERE id = ?) + (SELECT COUNT(*) FROM sessions WHERE user_id = ?) AS n`, [Number(ADA.userId), Number(ADA.userId)]);
    return Number(n);
  };
  const erasedAll = (done: any) => {
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const planned = done.deletionOutcome.reduce((n: number, l: any) => n + l.plannedToErase, 0);
    expect(planned, "planned to erase: her row, factors and sessions").to.be.greaterThan(ADA_SESSIONS);
    expect(done.deletionOutcome.reduce((n: number, l: any) => n + l.erased, 0), "erased").to.equal(planned);
  };

  it("is refused at approval (CONFLICT naming the deletion, nothing written), and the deletion erases the account", async () => {
    const gate = new Promise<void>((resolve) => (open = resolve));
    service = await accountDbService(db(), undefined, undefined, (c): Connector => ({ ...c, erase: async (...a) => (await gate, c.erase(...a)) }));
    const { t, account } = service;
    const del = await submit(t, deletion());
    await t.ok(APPROVE, { id: del.id });
    await t.waitFor(async () => ((await t.ok(SHOW, { id: del.id })).request.tasks.some((x: any) => x.step === "ERASE" && x.status === "RUNNING") ? true : undefined), "ERASE running");
    t.clock.advance(1000);
    const fix = await submit(t, correction());
    const refused = await t.gql(APPROVE, { id: fix.id });
    expect(refused.errors?.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
    expect(refused.errors![0].message).to.include(`Deletion ${del.id} of the same person is at work`).and.not.include(NEW);
    expect((await t.ok(SHOW, { id: fix.id })).request.status).to.equal("PENDING_APPROVAL");
    expect(await account.rows(`SELECT email FROM users WHERE id = ?`, [Number(ADA.userId)])).to.deep.equal([{ email: ADA.email }]);
    open();
    erasedAll(await ended(del.id));
    expect(await adaHeld(), "Ada's account and sessions left").to.equal(0);
    expect(await account.rows(`SELECT id FROM users WHERE email = ?`, [NEW])).to.deep.equal([]);
  });

  it("writes nothing when its RECTIFY runs once a deletion approved after it is at work, is not retried while it is, and the deletion erases the account", async () => {
    let first = true;
    const gate = new Promise<void>((resolve) => (open = resolve));
    service = await accountDbService(db(), undefined, undefined, (c): Connector => ({
      ...c,
      erase: async (...a) => (await gate, c.erase(...a)),
      rectify: async (...a) => {
        // The first attempt meets a busy database: the retry comes after the deletion was approved.
        if (first) throw ((first = false), new ConnectorError("account-db: busy", "busy", true, 1500));
        return c.rectify!(...a);
      },
    }));
    const { t, account } = service;
    const fix = await submit(t, correction());
    await t.ok(APPROVE, { id: fix.id });
    await t.waitFor(async () => ((await t.ok(SHOW, { id: fix.id })).request.tasks.some((x: any) => x.step === "RECTIFY" && x.attempts === 1 && x.status === "PENDING") ? true : undefined), "RECTIFY waits to retry");
    t.clock.advance(1000);
    const del = await submit(t, deletion());
    await t.ok(APPROVE, { id: del.id });
    const fixed = await ended(fix.id);
    expect(fixed.status).to.equal("FAILED");
    const rectify = fixed.tasks.find((x: any) => x.step === "RECTIFY");
    const retried = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { id status } }`, { id: rectify.id });
    expect(retried.errors?.map((e) => e.extensions.code), "retried while the deletion is at work").to.deep.equal(["CONFLICT"]);
    expect(retried.errors![0].message).to.include(`Deletion ${del.id} of the same person is at work`);
    open();
    const done = await ended(del.id);
    // Its submitter may be a SERVICE token, not told of another token's request: the deletion is not named.
    expect(fixed.tasks.find((x: any) => x.step === "RECTIFY").lastError).to.match(/^A deletion of the same person is at work: a correction is not made/).and.not.include(del.id);
    erasedAll(done);
    expect(await adaHeld(), "Ada's account and sessions left").to.equal(0);
    expect(await account.rows(`SELECT id FROM users WHERE email = ?`, [NEW])).to.deep.equal([]);
  });

  /** Submits and approves the correction, then, once it reached `waiting`, the deletion (a second later); answers both. */
  const deletionApprovedOnce = async (waiting: Promise<void>) => {
    const { t } = service!;
    const fix = await submit(t, correction());
    await t.ok(APPROVE, { id: fix.id });
    await waiting;
    t.clock.advance(1000);
    const del = await submit(t, deletion());
    await t.ok(APPROVE, { id: del.id });
    return { fix, del };
  };

  /**
   * The deletion approved while the correction's RECTIFY is already under way (past the check at its
   * start); `at` is where the correction waits: before its first write ("start") or inside the unit of
   * the write that moves the address ("write"). Answers the two requests once the deletion's ERASE waited
   * (or erased), with Ada's rows as they were then.
   */
  const approvedDuring = async (at: "start" | "write") => {
    let reached: () => void = () => undefined;
    const waiting = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<void>((resolve) => (open = resolve));
    let erasing = false;
    service = await accountDbService(db(), undefined, await accountOn(), (c): Connector => ({
      ...c,
      erase: async (...a) => ((erasing = true), c.erase(...a)),
      rectify: async (ids, changes, ctx) => {
        if (at === "start") return reached(), await gate, c.rectify(ids, changes, ctx);
        return c.rectify(ids, changes, { ...ctx, eraseUnit: (category, work) => ctx.eraseUnit(category, async () => (reached(), await gate, work())) });
      },
    }));
    const { t } = service;
    const { fix, del } = await deletionApprovedOnce(waiting);
    await t.waitFor(async () => {
      const erase = (await t.ok(SHOW, { id: del.id })).request.tasks.find((x: any) => x.step === "ERASE");
      return erasing || /^Waits until a correction of the same person has finished writing to account-db/.test(erase?.lastError ?? "") ? true : undefined;
    }, "ERASE waits or erases");
    return { fix, del, erasing, heldMeanwhile: await adaHeld() };
  };

  it("erases nothing while a correction's write that began before the deletion runs, then fails naming the field it moved instead of COMPLETED", async () => {
    const { fix, del, erasing, heldMeanwhile } = await approvedDuring("write");
    expect(erasing, "the erase ran while the correction wrote").to.equal(false);
    expect(heldMeanwhile, "Ada's account and sessions while the correction writes").to.equal(1 + ADA_SESSIONS);
    open();
    expect((await ended(fix.id)).status).to.equal("COMPLETED");
    const done = await ended(del.id);
    // Her row is under the corrected address now: the deletion, given the old one, erases nothing and says why.
    expect(done.status, "the deletion of a person whose rows are left").to.equal("FAILED");
    expect(done.statusReason).to.include("A correction of the same person changed email in account-db while this deletion was at work").and.not.include(NEW).and.not.include(fix.id);
    expect(await service!.account.rows(`SELECT id FROM users WHERE email = ?`, [NEW])).to.deep.equal([{ id: Number(ADA.userId) }]);
    expect(await adaHeld(), "Ada's row (under the new address) and sessions").to.equal(1 + ADA_SESSIONS);
  });

  it("names the planned account row the application moved to another address before the erase (not COMPLETED): planned, erased, and how many no longer found", async () => {
    let moved = false;
    service = await accountDbService(db(), undefined, await accountOn(), (c): Connector => ({
      ...c,
      erase: async (...a) => {
        // The application changes her address between the plan and the erase.
        if (!moved) await service!.account.rows(`UPDATE users SET email = ? WHERE id = ?`, [NEW, Number(ADA.userId)]);
        moved = true;
        return c.erase(...a);
      },
    }));
    const { t } = service;
    const del = await submit(t, deletion());
    await t.ok(APPROVE, { id: del.id });
    const done = await ended(del.id);
    expect(done.status, "the deletion of a person whose row is left").to.equal("FAILED");
    expect(done.statusReason).to.match(/still present outside the retention exceptions \(ACCOUNT: 1\); 1 of them no longer found by the person's identities/).and.not.include(NEW);
    // Her address was all it knew her by: her factors and sessions, found through her row, went out of reach with it.
    const [, erased, planned] = /the connector reported erasing (\d+) of the (\d+) planned/.exec(done.statusReason) ?? [];
    expect(Number(planned), "planned to erase: her row, factors and sessions").to.be.greaterThan(ADA_SESSIONS);
    expect(Number(erased)).to.equal(0);
    expect(await service!.account.rows(`SELECT id FROM users WHERE email = ?`, [NEW])).to.deep.equal([{ id: Number(ADA.userId) }]);
    expect(await adaHeld(), "Ada's row (under the new address) and sessions").to.equal(1 + ADA_SESSIONS);
  });

  it("writes nothing when the deletion is approved after its RECTIFY began but before its first write, and the deletion erases the account", async () => {
    const { fix, del, erasing, heldMeanwhile } = await approvedDuring("start");
    expect(erasing, "the erase ran while the correction was under way").to.equal(false);
    expect(heldMeanwhile).to.equal(1 + ADA_SESSIONS);
    open();
    const fixed = await ended(fix.id);
    expect(fixed.status).to.equal("FAILED");
    expect(fixed.tasks.find((x: any) => x.step === "RECTIFY").lastError).to.match(/^A deletion of the same person is at work: a correction is not made/);
    erasedAll(await ended(del.id));
    expect(await adaHeld(), "Ada's account and sessions left").to.equal(0);
    expect(await service!.account.rows(`SELECT id FROM users WHERE email = ?`, [NEW])).to.deep.equal([]);
  });

  /**
   * A connector whose correction writes in many small units, one row of `correction_writes` in the account
   * database each, until a unit is refused (or `cap` units). Its rectify says it changed every field asked.
   * Each unit gives the event loop a turn, as a connector whose system is across a network does.
   */
  const unitByUnit = (cap: number) => (c: Connector): Connector => ({
    ...c,
    rectify: async (_ids, changes, ctx) => {
      for (let unit = 1; unit <= cap; unit++) {
        if (!(await ctx.eraseUnit("ACCOUNT" as never, async () => (await new Promise((resolve) => setImmediate(resolve)), await service!.account.rows(`INSERT INTO correction_writes (unit) VALUES (?)`, [unit]), 1)))) break;
      }
      return { changed: changes.map((x) => x.field), notHeld: [] };
    },
  });
  const written = async () => Number((await service!.account.rows(`SELECT COUNT(*) AS n FROM correction_writes`))[0].n);

  it("begins no unit of its writes once a deletion's approval is under way (held open before its commit on MariaDB): none lands after it committed, and the deletion erases the account", async () => {
    service = await accountDbService(db(), undefined, await accountOn(), unitByUnit(20_000));
    const { t, account } = service;
    await account.rows(`CREATE TABLE correction_writes (unit INTEGER NOT NULL)`);
    // Of her name: a field the account database does not find her by (no address moves out of the deletion's reach).
    const fix = await submit(t, { ...correction(), corrections: [{ field: "name", value: "Ada King" }] });
    await t.ok(APPROVE, { id: fix.id });
    await t.waitFor(async () => ((await written()) >= 5 ? true : undefined), "the correction writes unit by unit");
    t.clock.advance(1000);
    const del = await submit(t, deletion());
    // MariaDB: the approval is held before its commit (its audit event waits on the request's audit head,
    // locked here), the person's lock taken and every write made: units meanwhile must not begin.
    const held = db().kind === "mariadb" ? await mysql.createConnection({ uri: db().url }) : null;
    let during: number | null = null;
    try {
      await held?.query("START TRANSACTION");
      await held?.query("SELECT stream FROM audit_stream_heads WHERE stream = ? FOR UPDATE", [del.id]);
      const approving = t.ok(APPROVE, { id: del.id });
      if (held) {
        await t.waitFor(async () => {
          const [rows] = await held.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT stream, seq, hash FROM audit_stream_heads%'`);
          return Number((rows as Array<{ n: number }>)[0].n) > 0 ? true : undefined;
        }, "the approval waits to commit");
        const before = await written();
        await new Promise((resolve) => setTimeout(resolve, 600));
        during = await written();
        // At most the unit already writing when the approval took the person's lock.
        expect(during - before, "units written while the approval was under way").to.be.at.most(1);
        await held.query("ROLLBACK");
      }
      await approving;
    } finally {
      await held?.end();
    }
    const fixed = await ended(fix.id);
    expect(fixed.status).to.equal("FAILED");
    expect(fixed.tasks.find((x: any) => x.step === "RECTIFY").lastError).to.match(/^A deletion of the same person is at work: a correction is not made/);
    if (during !== null) expect(await written(), "units written after the approval committed").to.equal(during);
    erasedAll(await ended(del.id));
    expect(await adaHeld(), "Ada's account and sessions left").to.equal(0);
  });

  it("fails naming the field a correction moved in a unit begun before the approval when that correction then failed at its next unit, instead of COMPLETED with the moved rows held", async () => {
    let reached: () => void = () => undefined;
    const waiting = new Promise<void>((resolve) => (reached = resolve));
    let wrote: () => void = () => undefined;
    const moved = new Promise<void>((resolve) => (wrote = resolve));
    const gate = new Promise<void>((resolve) => (open = resolve));
    service = await accountDbService(db(), undefined, await accountOn(), (c): Connector => ({
      ...c,
      // The deletion's survey reads the account database once the correction's first unit has moved her address.
      collect: (ids, ctx) => (async function* () {
        await moved;
        yield* c.collect(ids, ctx);
      })(),
      rectify: async (ids, changes, ctx) => {
        const outcome = await c.rectify(ids, changes, { ...ctx, eraseUnit: (category, work) => ctx.eraseUnit(category, async () => (reached(), await gate, (await work()) ?? 0)) });
        wrote();
        // A second unit of its writes (say, a table of its own): refused, the deletion now at work.
        await ctx.eraseUnit("ACCOUNT" as never, async () => 0);
        return outcome;
      },
    }));
    const { fix, del } = await deletionApprovedOnce(waiting);
    open();
    const fixed = await ended(fix.id);
    expect(fixed.status, "the correction, its second unit refused").to.equal("FAILED");
    expect(fixed.tasks.find((x: any) => x.step === "RECTIFY").lastError).to.match(/^A deletion of the same person is at work: a correction is not made/);
    expect(await service!.account.rows(`SELECT id FROM users WHERE email = ?`, [NEW]), "her row, moved by the first unit").to.deep.equal([{ id: Number(ADA.userId) }]);
    const done = await ended(del.id);
    expect(done.status, "the deletion of a person whose rows are left").to.equal("FAILED");
    expect(done.statusReason).to.include("A correction of the same person changed email in account-db while this deletion was at work").and.not.include(NEW);
    expect(await adaHeld(), "Ada's row (under the new address) and sessions").to.equal(1 + ADA_SESSIONS);
  });
});
