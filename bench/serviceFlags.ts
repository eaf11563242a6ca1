import { SERVICE_NODE_FLAGS } from "../src/nodeFlags";

/**
 * The Node.js flags a bench starts a service process with: the service's own (src/nodeFlags.ts), as
 * `npm start` and `dsr serve` / `dsr worker` run, then BENCH_NODE_FLAGS (space-separated; a later V8
 * flag wins), to compare settings in one session.
 */
export function serviceNodeFlags(): string[] {
  return [...SERVICE_NODE_FLAGS, ...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? [])];
}
