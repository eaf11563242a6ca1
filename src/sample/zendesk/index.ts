import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SamplePerson, samplePeople } from "../people";
import { zendeskApp } from "./app";
import { ZendeskCalls, ZendeskFaults } from "./faults";
import { ZendeskJobs } from "./jobs";
import { seedZendesk } from "./seed";
import { ZendeskStore } from "./store";

export { SAMPLE_AGENT_ID, seedZendesk } from "./seed";
export { PERMANENTLY_DELETED, REDACTED, ZendeskStore } from "./store";
export type { ZendeskEffects } from "./store";
export { ZendeskCalls, ZendeskFaults } from "./faults";
export { ZendeskJobs } from "./jobs";
export type { JobStatus } from "./jobs";
export type { CallEntry, FaultDecision, FaultKind, FaultRule, Pause } from "./faults";
export type { ZendeskAttachment, ZendeskComment, ZendeskSideConversation, ZendeskState, ZendeskSuspendedTicket, ZendeskTicket, ZendeskUser } from "./types";

export interface ZendeskStandInOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on; loopback by default. */
  host?: string;
  /** The API user's email: requests authenticate as `{email}/token:{apiToken}` (HTTP basic). */
  email: string;
  /** The API token the stand-in accepts. */
  apiToken: string;
  /** Whom to seed from; samplePeople() by default. */
  people?: SamplePerson[];
  /** Keeps the state in this JSON file: loaded when it exists, saved (atomically) after each change. */
  stateFile?: string;
}

/** A running stand-in: its address, its data, its faults and the calls it received. */
export interface ZendeskStandIn {
  /** Base URL of the account, e.g. http://127.0.0.1:4321 (the API is under /api/v2/). */
  url: string;
  port: number;
  store: ZendeskStore;
  faults: ZendeskFaults;
  calls: ZendeskCalls;
  /** Background jobs (permanent ticket deletions) and how long they queue. */
  jobs: ZendeskJobs;
  /** Stops listening and drops open connections (hanging calls included). */
  close(): Promise<void>;
}

/**
 * Starts a Zendesk-compatible HTTP server on loopback, seeded from the sample people: the sample
 * workspace's ticketing system, and the server the ticketing connector's tests talk to.
 */
export async function startZendeskStandIn(options: ZendeskStandInOptions): Promise<ZendeskStandIn> {
  const store = ZendeskStore.open(() => seedZendesk(options.people ?? samplePeople()), options.stateFile);
  const faults = new ZendeskFaults();
  const calls = new ZendeskCalls();
  const jobs = new ZendeskJobs();
  const app = zendeskApp({ email: options.email, apiToken: options.apiToken, store, faults, calls, jobs });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port ?? 0, options.host ?? "127.0.0.1", (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    store,
    faults,
    calls,
    jobs,
    close: () =>
      new Promise<void>((resolve, reject) => {
        jobs.stop();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
