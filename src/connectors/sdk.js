"use strict";
/**
 * The connector SDK: what a platform team implements to connect a system to the DSR service.
 * A connector is data (its spec) plus a handful of calls. See docs/connectors.md for the guide and
 * src/connectors/testing/conformance.ts for the suite every connector must pass.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.ConnectorConfigError = exports.ConnectorError = void 0;
exports.retryAfterMs = retryAfterMs;
exports.specProblems = specProblems;
/**
 * The one error type connectors throw. `userMessage` is shown on the task in GraphQL (no internals,
 * no personal data); `internalMessage` goes to the log only. Retryable errors are retried with
 * backoff (after retryAfterMs when given, e.g. from Retry-After); others fail the task at once.
 */
class ConnectorError extends Error {
    constructor(userMessage, internalMessage, retryable, retryAfterMs) {
        super(userMessage);
        this.userMessage = userMessage;
        this.internalMessage = internalMessage;
        this.retryable = retryable;
        this.retryAfterMs = retryAfterMs;
        this.name = "ConnectorError";
    }
}
exports.ConnectorError = ConnectorError;
/**
 * A connector's configuration is wrong: thrown by its factory before anything connects, listing every
 * problem (the service prints them all at boot and refuses to start).
 */
class ConnectorConfigError extends Error {
    constructor(connector, problems, kind = "connector") {
        super(`invalid ${kind} configuration${connector ? ` "${connector}"` : ""}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.connector = connector;
        this.problems = problems;
        this.name = "ConnectorConfigError";
    }
}
exports.ConnectorConfigError = ConnectorConfigError;
/** Reads a Retry-After header (seconds or an HTTP date) into milliseconds from `now`. */
function retryAfterMs(header, now = new Date()) {
    if (!header)
        return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0)
        return seconds * 1000;
    const at = Date.parse(header);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
const NAME = /^[a-z][a-z0-9-]{1,39}$/;
/** Checks a spec before a connector is registered; returns every problem found. */
function specProblems(spec) {
    const problems = [];
    if (!NAME.test(spec.name ?? ""))
        problems.push(`name "${spec.name}" must be 2-40 lower-case letters, digits or dashes, starting with a letter`);
    if (!spec.version)
        problems.push(`${spec.name}: version is required`);
    if (!spec.categories?.length)
        problems.push(`${spec.name}: declare at least one category`);
    if (!spec.supports?.length)
        problems.push(`${spec.name}: declare at least one supported action`);
    for (const kind of spec.provides ?? [])
        if ((spec.needs ?? []).includes(kind))
            problems.push(`${spec.name}: cannot both need and provide ${kind}`);
    return problems;
}
//# sourceMappingURL=sdk.js.map