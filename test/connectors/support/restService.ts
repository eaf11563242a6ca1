import { createHttpConnector, HttpConnectorConfig } from "../../../src/connectors/http";
import type { TestDatabase } from "../../support/databases";
import { TestService } from "../../support/harness";
import { TEST_START } from "../../support/harness";
import { REST_TOKEN, RestStandIn } from "./restStandIn";

/** The variables a stand-in's configuration reads its token from. */
export const REST_ENV = { REST_TEST_TOKEN: REST_TOKEN };

/**
 * Mocha hooks for tests that run the service over the HTTP connector: a fresh REST stand-in before
 * each test, and after it the service (if one was started) and the stand-in stopped.
 */
export function restServiceHooks(db: () => TestDatabase): { standIn(): RestStandIn; serviceOver(config: HttpConnectorConfig): Promise<TestService> } {
  let standIn: RestStandIn;
  let t: TestService | undefined;
  beforeEach(async () => {
    standIn = await new RestStandIn().start();
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await standIn.stop();
  });
  return {
    standIn: () => standIn,
    serviceOver: async (config) => {
      t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [createHttpConnector(config, REST_ENV)]).start();
      return t;
    },
  };
}

/**
 * Dates Ada's records in a stand-in: her notes long past any retention, her invoices too ("old": nothing
 * of hers is kept under a rule) or 90 days before the test clock ("recent": inside the 7-year tax rule).
 */
export function dateAda(standIn: RestStandIn, invoices: "old" | "recent"): void {
  const old = "2001-02-03T00:00:00.000Z";
  const recent = new Date(TEST_START.getTime() - 90 * 86_400_000).toISOString();
  for (const note of standIn.notes) if (note.user === 1) note.created_at = old;
  for (const invoice of standIn.invoices) if (invoice.user === 1) invoice.issued_at = invoices === "old" ? old : recent;
}
