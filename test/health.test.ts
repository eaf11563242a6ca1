import { expect } from "chai";
import { systemClock } from "../src/clock";
import type { Connector } from "../src/connectors/sdk";
import { createLogger } from "../src/logger";
import { checkConnector } from "../src/orchestrator/health";
import { ScriptedConnector } from "./support/scriptedConnector";

describe("connector health checks", () => {
  const logger = createLogger("silent");

  it("answers unhealthy within the time limit when check() never answers, and passes a prompt answer through", async () => {
    let signalled: AbortSignal | undefined;
    const hanging = Object.assign(new ScriptedConnector({ name: "hanging" }), {
      check: ({ signal }: { signal: AbortSignal }) => {
        signalled = signal;
        return new Promise<never>(() => undefined);
      },
    }) as unknown as Connector;
    const started = Date.now();
    const health = await checkConnector(hanging, systemClock, logger, 100);
    expect(Date.now() - started, "ms until the answer").to.be.within(90, 1_000);
    expect(health).to.include({ ok: false, message: "check failed: no answer within 100 ms" });
    expect(signalled?.aborted, "the check was told to stop").to.equal(true);

    const prompt = await checkConnector(new ScriptedConnector({ name: "prompt" }) as unknown as Connector, systemClock, logger, 100);
    expect(prompt.ok).to.equal(true);
  });
});
