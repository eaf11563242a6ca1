import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { samplePeople, SamplePerson } from "../people";
import { stripeApp } from "./app";
import { StripeCalls, StripeFaults } from "./faults";
import { RedactionDesk } from "./redactionJobs";
import { StripeStore } from "./store";
import type { Clock } from "../../clock";

export { StripeCalls, StripeFaults } from "./faults";
export type { CallEntry, CallOutcome, FaultKind } from "./faults";
export { seedPerson } from "./seed";
export type { StripeObject } from "./seed";
export { StripeStore } from "./store";
export type { SideEffect, StoredEvent, StoredRedactionJob } from "./store";
export type { RedactionDesk } from "./redactionJobs";

/** How to start the Stripe-compatible stand-in. */
export interface StripeStandInOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on; loopback by default. */
  host?: string;
  /** The secret key clients must send (Bearer); any other key is answered 401. */
  apiKey: string;
  /** People to seed customers, cards, charges, invoices and subscriptions from; samplePeople() by default. */
  people?: readonly SamplePerson[];
  /** JSON file the changes are loaded from and saved to after each one; none: state lives in memory. */
  stateFile?: string;
  /** Stripe's clock (idempotency keys' age, redaction jobs' `created`); the system's by default. */
  clock?: Clock;
}

/** A running stand-in. */
export interface StripeStandIn {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  port: number;
  /** Its data and side-effect counters. */
  store: StripeStore;
  /** Faults on demand (rate of 500 / 429 / hang, or the next calls'). */
  faults: StripeFaults;
  /** Every call received and how it ended. */
  calls: StripeCalls;
  /** Its redaction jobs: pause them (a job that takes days) or make validation refuse objects. */
  redaction: RedactionDesk;
  /** Stops listening and drops open connections, hung answers included. */
  close(): Promise<void>;
}

/** Starts a Stripe-compatible HTTP server on loopback, seeded from the sample people. */
export async function startStripeStandIn(options: StripeStandInOptions): Promise<StripeStandIn> {
  if (!options.apiKey) throw new Error("the Stripe stand-in needs an apiKey");
  const store = new StripeStore(options.people ?? samplePeople(), options.stateFile);
  if (options.clock) store.clock = options.clock;
  const faults = new StripeFaults();
  const calls = new StripeCalls();
  const hung = new Set<NodeJS.Timeout>();
  const redaction: RedactionDesk = { paused: false, refuse: new Set() };
  const server = createServer(stripeApp({ apiKey: options.apiKey, store, faults, calls, desk: redaction, hung }));
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    store,
    faults,
    calls,
    redaction,
    close: async () => {
      for (const timer of hung) clearTimeout(timer);
      hung.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
