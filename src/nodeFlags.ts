/**
 * The Node.js flags `dsr serve` and `dsr worker` run with: `npm start` passes them, `bin/dsr.js`'s
 * shebang does (`env -S`), and the benches start their service processes with them
 * (test/nodeFlags.test.ts keeps the three the same).
 *
 * --max-semi-space-size=32: V8's young generation may grow to 32 MB per semi-space (the default is 16).
 * A big subject's collect allocates fast, and with the default, records still in flight at a scavenge
 * were promoted to the old generation, where they piled up as garbage until a full collection: the
 * heap grew by about 90 MB over a 200,000-event collect. With 32 MB they die young, and scavenging
 * costs a quarter as much (bench/subject, 2,000,000 events, CPU profile: 1.3 s of garbage collection
 * against 5.3 s with 16 MB semi-spaces; peak RSS 240-271 MB with 16 MB against 301-325 MB with 32).
 *
 * --heap-growing-percent=50: after a full collection V8 lets the old generation grow by half of what
 * is live before the next one, not by its own factor (which let it double here). What is still
 * promoted then goes sooner: at 2,000,000 events the heap peaked at either 117 or 137-142 MB, by when
 * the last full collection happened, and the RSS at either 260 or 302-307 MB; with the flag it was
 * 117 MB and 265-277 MB in every run, for no measurable cost in time (bench/orchestrator alike).
 */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=32", "--heap-growing-percent=50"] as const;
