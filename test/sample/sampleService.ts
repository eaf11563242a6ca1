import pino from "pino";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { tempDir, TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";

/**
 * A suite's sample workspace (Ada and a few people, Stripe and Zendesk stand-ins) and a service with
 * four worker slots on it; `start()` in each test, both stopped after it.
 */
export function sampleService(db: () => TestDatabase): { start(): Promise<{ ws: SampleWorkspace; t: TestService }> } {
  let ws: SampleWorkspace | undefined;
  let t: TestService | undefined;
  afterEach(async () => {
    if (ws) ws.stripe.redaction.paused = false;
    await t?.stop();
    await ws?.close();
    [ws, t] = [undefined, undefined];
  });
  return {
    async start() {
      ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
      t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
      return { ws, t };
    },
  };
}
