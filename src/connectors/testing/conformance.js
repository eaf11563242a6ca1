"use strict";
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.CONFORMANCE_CASES = exports.CONFORMANCE_GROUPS = exports.ConformanceSkip = exports.testContext = void 0;
exports.collectAll = collectAll;
exports.eraseFully = eraseFully;
exports.describeConnectorConformance = describeConnectorConformance;
exports.runConformance = runConformance;
const strict_1 = __importDefault(require("node:assert/strict"));
const sdk_1 = require("../sdk");
const testContext_1 = require("./testContext");
var testContext_2 = require("./testContext");
Object.defineProperty(exports, "testContext", { enumerable: true, get: function () { return testContext_2.testContext; } });
/** Drains collect() into an array (the suite's own buffering; connectors must not buffer). */
async function collectAll(connector, ids, ctx = (0, testContext_1.testContext)()) {
    const records = [];
    for await (const record of connector.collect(ids, ctx))
        records.push(record);
    return records;
}
/** Runs erase, then polls remote work until it is done; returns the total erased. */
async function eraseFully(connector, ids, instruction, ctx = (0, testContext_1.testContext)()) {
    strict_1.default.ok(connector.erase, `${connector.spec.name} supports erasure but has no erase()`);
    let outcome = await connector.erase(ids, instruction, ctx);
    let erased = outcome.erased;
    for (let polls = 0; outcome.remote; polls += 1) {
        strict_1.default.ok(connector.poll, `${connector.spec.name}: erase returned remote work but the connector has no poll()`);
        strict_1.default.ok(polls < 100, `${connector.spec.name}: remote erasure ${outcome.remote.reference} did not finish within 100 polls`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(outcome.remote.pollAfterMs, 200)));
        outcome = await connector.poll(outcome.remote.reference, ctx);
        erased += outcome.erased;
    }
    return erased;
}
const key = (r) => `${r.type}:${r.id}`;
const keys = (records) => records.map(key).sort();
const byKey = (records) => [...records].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
/** Identities must never reach a log line. Short values (ids like "7") would match counts, so only 6+ characters are searched. */
function assertNothingLogged(lines, ...subjects) {
    const values = subjects.flatMap((s) => Object.values(s)).filter((v) => typeof v === "string" && v.length >= 6);
    for (const l of lines) {
        const text = `${l.msg} ${JSON.stringify(l.obj)}`;
        for (const v of values)
            strict_1.default.ok(!text.includes(v), `a ${l.level} log line carries an identity of the subject: "${l.msg}"`);
    }
}
async function expectRetryable(work, what) {
    await strict_1.default.rejects(work, (error) => {
        strict_1.default.ok(error instanceof sdk_1.ConnectorError, `${what}: a transient fault must surface as ConnectorError, got ${String(error)}`);
        strict_1.default.equal(error.retryable, true, `${what}: a transient fault must be retryable`);
        strict_1.default.ok(error.userMessage.trim().length > 0, `${what}: userMessage is empty`);
        return true;
    });
}
/** Thrown by a case that cannot run against this connector or run: reported as skipped, with the reason. */
class ConformanceSkip extends Error {
}
exports.ConformanceSkip = ConformanceSkip;
exports.CONFORMANCE_GROUPS = ["spec", "check", "collect", "erase", "transient faults"];
const cases = [];
let currentGroup = "spec";
const group = (name, body) => {
    currentGroup = name;
    body();
};
const add = (title, run) => void cases.push({ group: currentGroup, title, run });
function needsErasure(r) {
    if (!r.connector.spec.supports.includes("erasure"))
        throw new ConformanceSkip("the connector does not support erasure");
    if (r.skipErase)
        throw new ConformanceSkip(r.skipErase);
}
/*
 * The suite every connector must pass (see docs/connectors.md): check passes on a good configuration and
 * fails on a bad one; collect streams only the subject's records, repeatably; erase is idempotent,
 * leaves nothing collect finds except what may be kept and never touches another subject; transient
 * faults are retryable ConnectorErrors. Written once, run by mocha (describeConnectorConformance) and
 * by `dsr connector test` (runConformance).
 */
group("spec", () => {
    add("declares a spec the registry accepts and implements every call it declares", async (r) => {
        const { connector } = r;
        const { spec } = connector;
        strict_1.default.deepEqual((0, sdk_1.specProblems)(spec), []);
        if (spec.supports.includes("erasure"))
            strict_1.default.equal(typeof connector.erase, "function", "supports erasure without erase()");
        if (spec.supports.includes("rectification"))
            strict_1.default.equal(typeof connector.rectify, "function", "supports rectification without rectify()");
        if (spec.provides.length)
            strict_1.default.equal(typeof connector.resolve, "function", "provides identities without resolve()");
    });
});
group("check", () => {
    add("passes with a message, when configuration and connection are good", async (r) => {
        const result = await r.connector.check((0, testContext_1.testContext)());
        strict_1.default.equal(result.ok, true, `check failed: ${result.message}`);
        strict_1.default.ok(result.message.trim().length > 0, "check's message is empty");
    });
    add("fails with a message, when the configuration or connection is broken", async (r) => {
        if (!r.badConnector)
            throw new ConformanceSkip("no broken configuration was given (badConnector)");
        let result;
        try {
            result = await r.badConnector.check((0, testContext_1.testContext)());
        }
        catch (error) {
            strict_1.default.ok(error instanceof sdk_1.ConnectorError, `check may only throw ConnectorError, got ${String(error)}`);
            strict_1.default.ok(error.userMessage.trim().length > 0, "the ConnectorError's userMessage is empty");
            return;
        }
        strict_1.default.equal(result.ok, false, `check passed on the broken connector: ${result.message}`);
        strict_1.default.ok(result.message.trim().length > 0, "check's message is empty");
    });
});
group("collect", () => {
    add("returns only the subject's records, each in a declared category with a string id", async (r) => {
        const { connector, subject, otherSubject, expectedRecordCount } = r;
        const ctx = (0, testContext_1.testContext)();
        const mine = await collectAll(connector, subject, ctx);
        const theirs = await collectAll(connector, otherSubject, ctx);
        strict_1.default.ok(mine.length > 0, "the subject has no records: seed some, or nothing below proves anything");
        strict_1.default.ok(theirs.length > 0, "otherSubject has no records: seed some");
        if (expectedRecordCount !== undefined)
            strict_1.default.equal(mine.length, expectedRecordCount, "record count");
        for (const r of mine) {
            strict_1.default.ok(connector.spec.categories.includes(r.category), `${key(r)}: category ${r.category} is not in spec.categories`);
            strict_1.default.equal(typeof r.id, "string", `${key(r)}: id must be a string`);
            strict_1.default.ok(r.id.length > 0 && typeof r.type === "string" && r.type.length > 0, "type and id must not be empty");
            strict_1.default.ok(r.data && typeof r.data === "object" && !Array.isArray(r.data), `${key(r)}: data must be an object`);
            strict_1.default.doesNotThrow(() => JSON.stringify(r.data), `${key(r)}: data must be JSON-serialisable`);
            if (r.recordedAt !== undefined)
                strict_1.default.ok(r.recordedAt instanceof Date && !Number.isNaN(r.recordedAt.getTime()), `${key(r)}: recordedAt must be a valid Date`);
        }
        strict_1.default.equal(new Set(keys(mine)).size, mine.length, "a record was returned twice (check paging)");
        const shared = keys(mine).filter((k) => new Set(keys(theirs)).has(k));
        strict_1.default.deepEqual(shared, [], "records of otherSubject were returned for the subject");
        assertNothingLogged(ctx.lines, subject, otherSubject);
    });
    add("streams: hands over the first record before the iterator is drained", async (r) => {
        const { connector, subject } = r;
        const iterable = connector.collect(subject, (0, testContext_1.testContext)());
        strict_1.default.notEqual(typeof iterable.then, "function", "collect must return an AsyncIterable, not a Promise of one");
        strict_1.default.equal(typeof iterable[Symbol.asyncIterator], "function", "collect must return an AsyncIterable");
        const iterator = iterable[Symbol.asyncIterator]();
        const first = await iterator.next();
        strict_1.default.equal(first.done, false, "the first next() must yield a record");
        strict_1.default.equal(typeof first.value.id, "string");
        await iterator.return?.();
        // Stopping early must release what collect held: a full run right after still works.
        strict_1.default.ok((await collectAll(connector, subject)).length > 0, "collect found nothing after an early stop");
    });
    add("returns the same records, when run twice", async (r) => {
        const { connector, subject } = r;
        const first = await collectAll(connector, subject);
        const second = await collectAll(connector, subject);
        strict_1.default.deepEqual(keys(second), keys(first));
    });
});
group("erase", () => {
    add("leaves nothing collect finds but what may be kept, when the subject is erased", async (r) => {
        needsErasure(r);
        const { connector, subject, otherSubject, kept = () => false } = r;
        const ctx = (0, testContext_1.testContext)();
        const before = await collectAll(connector, subject);
        const erased = await eraseFully(connector, subject, { categories: connector.spec.categories }, ctx);
        if (before.some((r) => !kept(r)))
            strict_1.default.ok(erased > 0, "erase reported 0 erased but records were there");
        const left = (await collectAll(connector, subject)).filter((r) => !kept(r));
        strict_1.default.deepEqual(keys(left), [], "records collect still finds after erase (and kept() does not allow)");
        assertNothingLogged(ctx.lines, subject, otherSubject);
    });
    add("erases nothing more, when run a second time", async (r) => {
        needsErasure(r);
        const { connector, subject } = r;
        const ctx = (0, testContext_1.testContext)();
        const instruction = { categories: connector.spec.categories };
        await eraseFully(connector, subject, instruction, ctx);
        const afterFirst = byKey(await collectAll(connector, subject));
        // A retried task reuses its idempotency key; a system that replays the first answer may repeat its count.
        await eraseFully(connector, subject, instruction, (0, testContext_1.testContext)({ idempotencyKey: ctx.idempotencyKey, attempt: 2 }));
        strict_1.default.deepEqual(byKey(await collectAll(connector, subject)), afterFirst, "a retry with the same idempotency key changed records");
        // A later request (a new key) finds nothing left to erase.
        strict_1.default.equal(await eraseFully(connector, subject, instruction, (0, testContext_1.testContext)()), 0, "a second erasure erased more");
        strict_1.default.deepEqual(byKey(await collectAll(connector, subject)), afterFirst);
    });
    add("leaves the other subject's records untouched, when the subject is erased", async (r) => {
        needsErasure(r);
        const { connector, subject, otherSubject } = r;
        const before = byKey(await collectAll(connector, otherSubject));
        await eraseFully(connector, subject, { categories: connector.spec.categories });
        strict_1.default.deepEqual(byKey(await collectAll(connector, otherSubject)), before);
    });
    add("erases nothing, when no category is listed", async (r) => {
        needsErasure(r);
        const { connector, subject } = r;
        const before = byKey(await collectAll(connector, subject));
        strict_1.default.equal(await eraseFully(connector, subject, { categories: [] }), 0);
        strict_1.default.deepEqual(byKey(await collectAll(connector, subject)), before);
    });
    add("keeps every dated record, when keepRecordedSince covers all time", async (r) => {
        needsErasure(r);
        const { connector, subject } = r;
        const { categories } = connector.spec;
        const dated = (await collectAll(connector, subject)).filter((r) => r.recordedAt);
        if (!dated.length)
            throw new ConformanceSkip("the subject has no dated records (recordedAt)");
        const since = Object.fromEntries(categories.map((c) => [c, new Date(0)]));
        await eraseFully(connector, subject, { categories, keepRecordedSince: since });
        const left = new Set(keys(await collectAll(connector, subject)));
        strict_1.default.deepEqual(keys(dated).filter((k) => !left.has(k)), [], "records recorded after keepRecordedSince were erased");
    });
});
group("transient faults", () => {
    add("surface as retryable ConnectorErrors from collect, and collect works once the fault is gone", async (r) => {
        const { connector, subject, injectRetryableFault } = r;
        if (!injectRetryableFault)
            throw new ConformanceSkip("no way to inject a transient fault was given (injectRetryableFault)");
        const expected = keys(await collectAll(connector, subject));
        const undo = await injectRetryableFault();
        try {
            await expectRetryable(collectAll(connector, subject), "collect");
        }
        finally {
            await undo();
        }
        strict_1.default.deepEqual(keys(await collectAll(connector, subject)), expected);
    });
    add("surface as retryable ConnectorErrors from erase, and a retry finishes the erasure", async (r) => {
        needsErasure(r);
        const { connector, subject, injectRetryableFault, kept = () => false } = r;
        if (!injectRetryableFault)
            throw new ConformanceSkip("no way to inject a transient fault was given (injectRetryableFault)");
        const ctx = (0, testContext_1.testContext)();
        const instruction = { categories: connector.spec.categories };
        const undo = await injectRetryableFault();
        try {
            await expectRetryable(eraseFully(connector, subject, instruction, ctx), "erase");
        }
        finally {
            await undo();
        }
        await eraseFully(connector, subject, instruction, (0, testContext_1.testContext)({ idempotencyKey: ctx.idempotencyKey, attempt: 2 }));
        strict_1.default.deepEqual(keys((await collectAll(connector, subject)).filter((r) => !kept(r))), []);
    });
});
/** Every case of the suite, in order. */
exports.CONFORMANCE_CASES = cases;
/** Declares the suite inside a mocha file: one `it` per case, a fresh setup() before each and its teardown after. */
function describeConnectorConformance(title, setup) {
    describe(`${title}: connector conformance`, function () {
        let current;
        beforeEach(async () => {
            current = await setup();
        });
        afterEach(async () => {
            const finished = current;
            current = undefined;
            await finished?.teardown();
        });
        for (const name of exports.CONFORMANCE_GROUPS) {
            describe(name, () => {
                for (const c of cases.filter((x) => x.group === name)) {
                    it(c.title, async function () {
                        strict_1.default.ok(current, "setup() did not return a run");
                        try {
                            await c.run(current);
                        }
                        catch (error) {
                            if (error instanceof ConformanceSkip)
                                this.skip();
                            throw error;
                        }
                    });
                }
            });
        }
    });
}
/** Runs the suite outside mocha (each case with a fresh setup() and its teardown), reporting each result as it ends. */
async function runConformance(setup, onResult = () => undefined) {
    const results = [];
    for (const c of cases) {
        const started = Date.now();
        let current;
        let outcome = "pass";
        let reason = null;
        try {
            current = await setup();
            await c.run(current);
        }
        catch (error) {
            outcome = error instanceof ConformanceSkip ? "skipped" : "fail";
            reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
        }
        finally {
            await current?.teardown().catch((error) => {
                if (outcome === "pass")
                    [outcome, reason] = ["fail", `teardown failed: ${error.message}`];
            });
        }
        const result = { group: c.group, title: c.title, outcome, reason, ms: Date.now() - started };
        results.push(result);
        onResult(result);
    }
    return results;
}
//# sourceMappingURL=conformance.js.map