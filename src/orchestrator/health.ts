import type { Clock } from "../clock";
import { Connector, ConnectorError, raceAbort } from "../connectors/sdk";
import type { Logger } from "../logger";

/** Runs a connector's check() with a time limit; a throw or a time-out is an unhealthy answer, not an error. */
export async function checkConnector(connector: Connector, clock: Clock, logger: Logger, timeoutMs = 5000): Promise<{ ok: boolean; message: string; checkedAt: Date }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const scoped = logger.child({ connector: connector.spec.name });
  try {
    const result = await raceAbort(() => connector.check({ logger: scoped, signal }), signal, () => new Error(`no answer within ${timeoutMs} ms`));
    return { ok: result.ok, message: result.message, checkedAt: clock.now() };
  } catch (error) {
    const message = error instanceof ConnectorError ? error.userMessage : `check failed: ${(error as Error).message}`;
    scoped.warn({ internal: error instanceof ConnectorError ? error.internalMessage : String(error) }, "connector check failed");
    return { ok: false, message, checkedAt: clock.now() };
  }
}
