/**
 * The Node.js flags `dsr serve` and `dsr worker` run with: `npm start` passes them, `bin/dsr.js`'s
 * shebang does (`env -S`), and the benches start their service processes with them
 * (test/nodeFlags.test.ts keeps the three the same). SERVICE_ENV, below, travels the same ways.
 *
 * --max-semi-space-size=32: V8's young generation may grow to 32 MB per semi-space (the default is 16).
 * A big subject's collect allocates fast, and with the default, records still in flight at a scavenge
 * were promoted to the old generation, where they piled up as garbage until a full collection: the
 * heap grew by about 90 MB over a 200,000-event collect. With 32 MB they die young, and scavenging
 * costs a quarter as much (bench/subject, 2,000,000 events, CPU profile: 1.3 s of garbage collection
 * against 5.3 s with 16 MB semi-spaces; peak RSS 240-271 MB with 16 MB against 301-325 MB with 32).
 *
 * --heap-growing-percent=100: after a full collection V8 lets the old generation grow to twice what is
 * live before the next one, not by a factor of its own choosing, which here let promoted garbage pile
 * up: at 2,000,000 events the heap peaked at either 117 or 137-143 MB, by when the last full
 * collection happened. Measured in one session (bench/subject, 2,000,000 events, service on MariaDB,
 * two runs each): without the flag RSS 276-297 MB and 35.0-36.0 s of CPU; with 100, 265-266 MB and
 * 35.0-36.0 s; with 50, 250-256 MB but 44.3 s of CPU (full collections that often cost a quarter
 * more). On SQLite, with 100: 294-296 MB (260-307 MB without, four runs).
 */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=32", "--heap-growing-percent=100"] as const;

/**
 * The environment the service's process starts with, set the same ways as the flags (the shebang's
 * `env -S`, npm start, the README's script, the benches).
 *
 * MALLOC_ARENA_MAX=1: glibc gives every thread that allocates its own malloc arena (up to 8 per core),
 * and the threads here are many: libuv's pool (zlib, crypto, file reads), the export's scan thread,
 * V8's helpers. Memory freed in one arena is not reused by another, so an export's short-lived native
 * buffers (pages, compressor state, ciphers) left pages resident in several arenas at once. With two
 * arenas, bench/subject at 2,000,000 events (service and auth log on SQLite, alternating runs in one
 * session): peak RSS 286, 286, 286 and 292 MB against 291, 294, 302 and 302 MB with glibc's default,
 * CPU 32.5-36.5 s against 34.3-44.7 s. With one (2026-12-05, alternating runs in one session, auth log
 * on SQLite): service on SQLite, 2,000,000 events 243, 243 and 243 MB against 247, 250 and 259 MB with
 * two, 200,000 events 227 and 227 against 229 and 230; service on MariaDB 233 and 231 against 236 and
 * 235, and 223 and 222 against 229 and 229; CPU within the runs' noise (28.5-31.7 s against 29.6-37.4 s
 * at 2,000,000). bench:orchestrator, one worker process on MariaDB, four alternating pairs: 12.2-16.8 ms
 * of CPU per request against 12.2-13.7 ms, 60.6-81.6 requests/s against 71.1-81.7, no difference beyond
 * the noise. The threads that allocate at once are few on the two cores the service is sized for, so
 * they seldom wait for the one arena's lock. Other C libraries (musl) ignore the variable.
 */
export const SERVICE_ENV = { MALLOC_ARENA_MAX: "1" } as const;

/** SERVICE_ENV as shell assignments: `MALLOC_ARENA_MAX=1`. */
export const SERVICE_ENV_ASSIGNMENTS = Object.entries(SERVICE_ENV)
  .map(([name, value]) => `${name}=${value}`)
  .join(" ");
