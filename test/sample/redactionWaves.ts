import { expect } from "chai";
import pino from "pino";
import { personalFields } from "../../src/connectors/stripe/records";
import { shiftByPeriod } from "../../src/domain/retention";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { tempDir, TestDatabase } from "../support/databases";
import { submit, TEST_START, TestService } from "../support/harness";

export const ADA = "ada.lovelace@example.com";

/** A sample workspace whose Ada has `extra` more old charges (outside the 7-year rule), and a service over it. */
export interface ManyOldCharges {
  ws: SampleWorkspace;
  t: TestService;
  /** Ada's old charges and invoices that still hold personal data at Stripe (the stand-in's own objects). */
  oldHolding(): number;
  /** Submits and approves Ada's deletion; returns its id. */
  approvedDeletion(): Promise<string>;
}

/**
 * Declares, for the suite it is called in, a workspace and service started by `start()` (redaction
 * jobs polled every millisecond of the service clock) and stopped after each test.
 */
export function manyOldCharges(db: () => TestDatabase, env: Record<string, string> = {}): { start(extra: number): Promise<ManyOldCharges> } {
  let ws: SampleWorkspace | undefined;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });
  return {
    async start(extra) {
      ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 12, redactionPollMs: 1 });
      t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", ...env }, ws.connectors).start();
      const store = ws.stripe.store;
      const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
      const cutoff = shiftByPeriod(TEST_START, { years: 7, days: 0 }, -1).getTime() / 1000;
      const oldest = store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
      expect(oldest.created as number, "Ada's oldest charge is outside the 7-year rule").to.be.lessThan(cutoff);
      for (let i = 0; i < extra; i++) store.put({ ...oldest, id: `${oldest.id}x${i}`, invoice: null }, "seeded");
      const service = t;
      return {
        ws,
        t,
        oldHolding: () => (["charge", "invoice"] as const).reduce((n, kind) => n + store.all(kind).filter((o) => o.customer === customer && (o.created as number) < cutoff && personalFields(kind, o).length > 0).length, 0),
        async approvedDeletion() {
          const r = await submit(service, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
          await service.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
          return r.id;
        },
      };
    },
  };
}
