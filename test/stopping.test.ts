import { expect } from "chai";
import { raceAbort } from "../src/connectors/sdk";
import { Stopped, untilAborted } from "../src/orchestrator/stopping";

/** Rejections nobody handled while `work` ran, as Node.js reports them (process "unhandledRejection"). */
async function unhandledDuring(work: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => void seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await work();
    // Node reports unhandled rejections once the microtask queue has drained.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail("should have rejected"),
    (error: unknown) => error,
  );

describe("stopping a task's work on its abort signal", () => {
  it("untilAborted stops at once on abort, and the work that failed after it is no unhandled rejection", async () => {
    const controller = new AbortController();
    let fail!: (error: Error) => void;
    const work = new Promise<string>((_, reject) => (fail = reject));
    const seen = await unhandledDuring(async () => {
      const raced = untilAborted(work, controller.signal);
      controller.abort("lease-lost");
      expect(await rejection(raced)).to.be.instanceOf(Stopped).and.include({ reason: "lease-lost" });
      fail(new Error("connector gave up after the abort"));
    });
    expect(seen).to.deep.equal([]);
  });

  it("untilAborted on a signal aborted before the work was handed over: Stopped, and the work's failure is no unhandled rejection", async () => {
    const controller = new AbortController();
    controller.abort("shutdown");
    const seen = await unhandledDuring(async () => {
      const work = Promise.reject(new Error("connector refused: aborted signal"));
      expect(await rejection(untilAborted(work, controller.signal))).to.be.instanceOf(Stopped).and.include({ reason: "shutdown" });
    });
    expect(seen).to.deep.equal([]);
  });

  it("raceAbort does not start work on a signal already aborted, and passes the work's own outcome through otherwise", async () => {
    const aborted = new AbortController();
    aborted.abort("shutdown");
    let started = 0;
    const work = async () => {
      started += 1;
      return "page";
    };
    expect(await rejection(raceAbort(work, aborted.signal, () => new Error("stopped")))).to.have.property("message", "stopped");
    expect(started).to.equal(0);
    const live = new AbortController();
    expect(await raceAbort(work, live.signal, () => new Error("stopped"))).to.equal("page");
    const failing = async () => Promise.reject(new Error("throttled"));
    expect(await rejection(raceAbort(failing, live.signal, () => new Error("stopped")))).to.have.property("message", "throttled");
    expect(started).to.equal(1);
  });
});
