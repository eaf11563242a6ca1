import type { ErasureInstruction, ErasureOutcome, Identities, TaskContext } from "../../src/connectors/sdk";
import type { TestDatabase } from "./databases";
import { submit, TestService } from "./harness";
import { ScriptedConnector } from "./scriptedConnector";

/**
 * A system whose first erase attempt can be held at a gate (a slow call, a paused process) past its
 * lease and let go later: a zombie beside the retry that took its task. Each row it deletes is kept
 * in `deleted`, as often as it was deleted.
 */
export abstract class HeldFirstAttempt extends ScriptedConnector {
  /** Each row the system deleted, as often as it did. */
  readonly deleted: string[] = [];
  private release!: () => void;
  /** Settles once the first attempt is let go (letZombieGo). */
  protected readonly gate = new Promise<void>((resolve) => (this.release = resolve));
  /** The first attempt's erase call, settled. */
  private zombie?: Promise<void>;

  constructor(name: string) {
    super({ name, categories: ["ACCOUNT"] });
  }

  override erase(ids: Identities, _instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    const run = this.run(ids, ctx);
    if (ctx.attempt === 1) this.zombie ??= run.then(() => undefined, () => undefined);
    return run;
  }

  private heldOnce = false;

  /**
   * Deletes `email`'s row `id` at the system: 1, or 0 when it is gone already. With `holdHere`, the
   * first such delete waits at the gate after deleting (done at the system, its answer held back).
   */
  protected async deleteRow(email: string, id: string, holdHere: boolean): Promise<number> {
    const rows = this.data.get(email) ?? [];
    if (!rows.some((r) => r.id === id)) return 0;
    this.data.set(email, rows.filter((r) => r.id !== id));
    this.deleted.push(id);
    if (holdHere && !this.heldOnce) {
      this.heldOnce = true;
      await this.gate;
    }
    return 1;
  }

  /** Lets the first attempt go on, and waits for its call to end. */
  async letZombieGo(): Promise<void> {
    this.release();
    await this.zombie;
  }

  /** One attempt's erase call. */
  protected abstract run(ids: Identities, ctx: TaskContext): Promise<ErasureOutcome>;
}

/**
 * Starts a service with `connector` (a 1.2 s lease), runs `email`'s deletion to its end, moving the
 * service's clock 500 ms a look so that a held attempt's lease runs out and a retry takes its task,
 * and returns the service and the request as `show` reads it then. `started` is given the service as
 * soon as it runs (for the test to stop it whatever happens next).
 */
export async function deletionPastZombie(db: TestDatabase, connector: ScriptedConnector, email: string, show: string, started: (t: TestService) => void): Promise<{ t: TestService; request: any }> {
  const t = await new TestService(db, { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1200" }, [connector]).start();
  started(t);
  const r = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  const request = await t.waitFor(
    async () => {
      t.clock.advance(500);
      const { request } = await t.ok(show, { id: r.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "request ended",
    40_000,
  );
  return { t, request };
}
