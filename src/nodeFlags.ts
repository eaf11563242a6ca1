/**
 * The Node.js flags `dsr serve` and `dsr worker` run with: `npm start` passes them, `bin/dsr.js`'s
 * shebang does (`env -S`), and the benches start their service processes with them
 * (test/nodeFlags.test.ts keeps the three the same).
 *
 * --max-semi-space-size=32: V8's young generation may grow to 32 MB per semi-space (the default is 16).
 * A big subject's collect allocates fast, and with the default, records still in flight at a scavenge
 * were promoted to the old generation, where they piled up as garbage until a full collection: the
 * heap grew by about 90 MB over a 200,000-event collect. With 32 MB they die young, the heap stays
 * flat, and the run is faster (bench/subject, 2,000,000 events: peak RSS 399 -> 355 MB, 81 -> 71 s).
 */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=32"] as const;
