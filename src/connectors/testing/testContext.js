"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.testContext = testContext;
const node_crypto_1 = require("node:crypto");
/**
 * Builds a TaskContext for calling a connector outside the orchestrator: fresh ids and idempotency key,
 * its own AbortController, a heartbeat that only counts (then calls `overrides.heartbeat`, if given),
 * and a logger that keeps its lines. Any other field can be overridden.
 */
function testContext(overrides = {}) {
    const controller = new AbortController();
    const lines = [];
    let heartbeats = 0;
    const line = (level) => (obj, msg) => void lines.push({ level, obj, msg });
    const logger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
    const { heartbeat, ...rest } = overrides;
    return {
        requestId: (0, node_crypto_1.randomUUID)(),
        taskId: (0, node_crypto_1.randomUUID)(),
        attempt: 1,
        idempotencyKey: `test-${(0, node_crypto_1.randomUUID)()}`,
        now: () => new Date(),
        logger,
        signal: controller.signal,
        ...rest,
        lines,
        get heartbeats() {
            return heartbeats;
        },
        async heartbeat() {
            heartbeats += 1;
            await heartbeat?.();
        },
        abort: (reason = "aborted by test") => controller.abort(reason),
    };
}
//# sourceMappingURL=testContext.js.map