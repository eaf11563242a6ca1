import { randomBytes, timingSafeEqual } from "node:crypto";
import express, { ErrorRequestHandler, Request, Response } from "express";
import { CallOutcome, StripeCalls, StripeFaults } from "./faults";
import { RedactionDesk, redactionEndpoints } from "./redactionJobs";
import { Endpoint, ENDPOINTS } from "./routes";
import { StripeStore } from "./store";
import { canonical, onlyKnown, Params, StripeApiError } from "./wire";

/** What the app needs from its server: the data, the faults to play and the call counters. */
export interface StandInParts {
  apiKey: string;
  store: StripeStore;
  faults: StripeFaults;
  calls: StripeCalls;
  /** How its redaction jobs move on. */
  desk: RedactionDesk;
  /** Timers of hung answers, cleared when the server closes. */
  hung: Set<NodeJS.Timeout>;
}

function keyOf(req: Request): string | undefined {
  const header = req.get("authorization") ?? "";
  if (header.startsWith("Bearer ")) return header.slice("Bearer ".length);
  // Stripe also takes the key as the Basic user name (curl -u sk_test_...:).
  if (header.startsWith("Basic ")) return Buffer.from(header.slice("Basic ".length), "base64").toString().split(":")[0];
  return undefined;
}

function sameKey(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The Stripe-compatible app. Every call is authenticated (Bearer secret key; 401 otherwise), may meet
 * a fault, and is counted. A POST with an Idempotency-Key replays the first answer
 * (`Idempotent-Replayed: true`); the same key with other parameters is a 400 idempotency_error.
 */
export function stripeApp(parts: StandInParts): express.Express {
  const { store, faults, calls } = parts;
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "extended");
  app.use(express.urlencoded({ extended: true, limit: "1mb" }));

  const answer = (res: Response, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.status(status).set({ "Request-Id": `req_${randomBytes(7).toString("hex")}`, ...headers }).json(body);
  };

  const serve = (endpoint: Endpoint) => (req: Request, res: Response) => {
    if (faults.latencyMs > 0) return void setTimeout(() => served(endpoint, req, res), faults.latencyMs);
    served(endpoint, req, res);
  };
  const served = (endpoint: Endpoint, req: Request, res: Response) => {
    const route = `${endpoint.method} ${endpoint.path}`;
    const at = Date.now();
    const done = (outcome: CallOutcome, retryAfterMs?: number) => calls.record({ at, method: endpoint.method, route, outcome, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    if (!sameKey(keyOf(req), parts.apiKey)) {
      done("unauthorized");
      return answer(res, 401, { error: { type: "invalid_request_error", message: "Invalid API Key provided.", code: "api_key_invalid" } });
    }
    if (faults.forbidden?.test(route)) {
      done("error");
      return answer(res, 403, { error: { type: "invalid_request_error", message: "The provided key does not have the required permissions for this endpoint." } });
    }
    const fault = faults.pick(route);
    const retryHint: Record<string, string> = faults.shouldRetry ? { "Stripe-Should-Retry": faults.shouldRetry } : {};
    if (fault === "500") {
      done("500");
      return answer(res, 500, { error: { type: "api_error", message: "An unknown error occurred (injected fault)." } }, retryHint);
    }
    if (fault === "429") {
      done("429", faults.retryAfterSeconds * 1000);
      const error = { type: "invalid_request_error", code: "rate_limit", message: "Too many requests hit the API too quickly (injected fault)." };
      return answer(res, 429, { error }, { "Retry-After": String(faults.retryAfterSeconds), ...retryHint });
    }
    // A hung call is carried out, then its answer is withheld past any client's timeout.
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (fault !== "hang") return answer(res, status, body, headers);
      const timer = setTimeout(() => {
        parts.hung.delete(timer);
        if (!res.writableEnded && !res.destroyed) answer(res, status, body, headers);
      }, faults.hangMs);
      parts.hung.add(timer);
    };
    const params: Params = { ...(req.query as Params), ...((req.body ?? {}) as Params) };
    // As at Stripe, only a POST is bound to its Idempotency-Key: GET and DELETE are idempotent by
    // definition and their key has no effect (a repeated DELETE meets what the first one left).
    const key = endpoint.method === "POST" ? req.get("idempotency-key") : undefined;
    const fingerprint = `${endpoint.method} ${req.path} ${canonical(params)}`;
    const stored = key ? store.replayable(key) : undefined;
    if (key && stored) {
      if (stored.fingerprint !== fingerprint) {
        done(fault ?? "error");
        const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`;
        return send(400, { error: { type: "idempotency_error", message } });
      }
      done(fault ?? "replayed");
      return send(stored.status, stored.body, { "Idempotent-Replayed": "true", "Idempotency-Key": key });
    }
    let status = 200;
    let body: unknown;
    let executed = false;
    try {
      onlyKnown(params, endpoint.params);
      executed = true;
      body = endpoint.handle(store, params, req.params as Record<string, string>);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = error.toJSON();
    }
    // Stripe saves the answer of every call that started executing (errors included), not of one it refused to start.
    if (key && executed) store.remember(key, { fingerprint, status, body, at: Math.floor(store.clock.now().getTime() / 1000) });
    done(fault ?? (status === 200 ? "ok" : "error"));
    send(status, body, key ? { "Idempotency-Key": key } : {});
  };

  for (const endpoint of [...ENDPOINTS, ...redactionEndpoints(parts.desk)]) {
    if (endpoint.method === "GET") app.get(endpoint.path, serve(endpoint));
    else if (endpoint.method === "POST") app.post(endpoint.path, serve(endpoint));
    else app.delete(endpoint.path, serve(endpoint));
  }
  app.use((req, res) => answer(res, 404, { error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${req.path}).` } }));
  const failed: ErrorRequestHandler = (error, _req, res, _next) => {
    const status = typeof error?.status === "number" && error.status < 500 ? error.status : 500;
    answer(res, status, { error: { type: status < 500 ? "invalid_request_error" : "api_error", message: status < 500 ? "Invalid request body." : "An unknown error occurred." } });
  };
  app.use(failed);
  return app;
}
