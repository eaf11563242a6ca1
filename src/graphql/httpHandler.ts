import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { ApolloServer, BaseContext } from "@apollo/server";
import { HeaderMap } from "@apollo/server";
import bodyParser from "body-parser";
import { bearerToken } from "../auth/tokens";
import type { Logger } from "../logger";
import type { RateLimiter } from "./rateLimit";

/** Where GraphQL is served. */
export const GRAPHQL_PATH = "/graphql";

/** Whether a request's path is the GraphQL endpoint (`/graphql` or `/graphql/`, any query string). */
export function isGraphqlPath(url: string | undefined): boolean {
  if (!url?.startsWith(GRAPHQL_PATH)) return false;
  const query = url.indexOf("?");
  const path = query < 0 ? url : url.slice(0, query);
  return path === GRAPHQL_PATH || path === `${GRAPHQL_PATH}/`;
}

/** A JSON answer on Node's own response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [key, value] of Object.entries(headers)) res.setHeader(key, value);
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

/** What a client did wrong at the HTTP level, by body-parser's error `type`, in words for the caller. */
const TRANSPORT_MISTAKES: Record<string, string> = {
  "entity.parse.failed": "Request body is not valid JSON",
  "charset.unsupported": "Request body must be JSON in UTF-8",
  "encoding.unsupported": "Request body uses a Content-Encoding this service does not accept; send it uncompressed",
  "request.aborted": "Request body was cut off before its end",
  "request.size.invalid": "Request body is shorter or longer than its Content-Length",
};

/**
 * A transport failure (body-parser's errors: malformed JSON, too large, wrong charset; a URL whose
 * percent-escapes do not decode) as a GraphQL-shaped JSON answer with a code, never an HTML stack trace
 * and never the request's own text. Server-side failures are logged and answered 500.
 */
export function sendTransportError(res: ServerResponse, error: unknown, bodyLimitBytes: number, logger: Logger): void {
  const raw = (error as { status?: unknown } | null)?.status;
  const type = String((error as { type?: unknown } | null)?.type ?? "");
  const status = error instanceof URIError ? 400 : typeof raw === "number" && raw >= 400 && raw < 500 ? raw : 500;
  const message =
    status === 413
      ? `Request body is larger than the limit of ${bodyLimitBytes} bytes`
      : error instanceof URIError
        ? "The URL is not valid: a percent-escape (%XX) in it does not decode to UTF-8 text"
        : status < 500
          ? (TRANSPORT_MISTAKES[type] ?? "The request could not be read; send a JSON body with content-type: application/json")
          : "Internal server error";
  if (status >= 500) logger.error({ err: error }, "HTTP transport error");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { errors: [{ message, extensions: { code: status < 500 ? "BAD_USER_INPUT" : "INTERNAL_SERVER_ERROR" } }] });
}

/** Node's parser refusals, by error code: the status and what the caller should do instead. */
const PARSER_REFUSALS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, "The request line and headers together are larger than this server reads (16 KiB); send a long GraphQL operation in a POST body, not in the URL"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "The request was not received in time; send it again"],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, "A chunk extension of the request body is too large"],
};

/**
 * A request Node's HTTP parser refused before any route saw it (a URL or headers over the header size
 * limit, a malformed request line, a timeout): answered in the same JSON shape with a code as every other
 * refusal, where Node's own default writes a bare status line with no body. Nothing of the request is
 * repeated. Attach as the server's `clientError` listener.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, message] = PARSER_REFUSALS[error.code ?? ""] ?? [400, "The request is not valid HTTP/1.1 and could not be read"];
  const body = JSON.stringify({ errors: [{ message, extensions: { code: "BAD_USER_INPUT" } }] });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Paths this service does not serve: a JSON answer with a code (Express's own page repeats the path). */
export function sendNotFound(res: ServerResponse): void {
  sendJson(res, 404, { errors: [{ message: "Nothing is served at this path; GraphQL is at /graphql", extensions: { code: "NOT_FOUND" } }] });
}

export interface GraphqlEndpointOptions<Context extends BaseContext> {
  apollo: ApolloServer<Context>;
  /** The operation's context from the HTTP request (throw a GraphQLError to refuse it). */
  context: (req: IncomingMessage) => Promise<Context>;
  bodyLimitBytes: number;
  /** Per-token rate limit, applied before the body is read. */
  rateLimiter?: RateLimiter | null;
  logger: Logger;
}

/**
 * The GraphQL endpoint on Node's own request and response, served ahead of Express (which keeps the
 * other routes): Express's router, its request/response decoration and `res.send` cost more per operation
 * than everything but the operation itself on a page of 50 requests. What the endpoint does, in order:
 * mark the answer no-store (it carries personal data; refusals and limit errors included), apply the
 * per-token rate limit, read the JSON body with body-parser (the size limit; malformed JSON is a 400 with a
 * code), then hand the request to Apollo Server's own HTTP handling (executeHTTPGraphQLRequest: CSRF
 * prevention, GET and POST, status codes), as its Express integration would.
 */
export function graphqlEndpoint<Context extends BaseContext>(options: GraphqlEndpointOptions<Context>): (req: IncomingMessage, res: ServerResponse) => void {
  const { apollo, context, bodyLimitBytes, rateLimiter, logger } = options;
  apollo.assertStarted("graphqlEndpoint()");
  const readJson = bodyParser.json({ limit: bodyLimitBytes });
  const execute = async (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
    const headers = new HeaderMap();
    for (const key in req.headers) {
      const value = req.headers[key];
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const query = req.url!.indexOf("?");
    const answer = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method!.toUpperCase(), headers, search: query < 0 ? "" : req.url!.slice(query), body: req.body },
      context: () => context(req),
    });
    for (const [key, value] of answer.headers) res.setHeader(key, value);
    res.statusCode = answer.status ?? 200;
    if (answer.body.kind === "complete") {
      res.setHeader("content-length", Buffer.byteLength(answer.body.string));
      res.end(answer.body.string);
      return;
    }
    for await (const chunk of answer.body.asyncIterator) res.write(chunk);
    res.end();
  };
  return (req, res) => {
    res.setHeader("cache-control", "no-store");
    if (rateLimiter) {
      const refusal = rateLimiter.take(bearerToken(req.headers.authorization));
      if (refusal) {
        sendJson(res, 429, refusal.body, { "retry-after": String(refusal.retryAfterSeconds) });
        return;
      }
    }
    readJson(req, res, (error?: unknown) => {
      if (error) return sendTransportError(res, error, bodyLimitBytes, logger);
      execute(req, res).catch((failure: unknown) => sendTransportError(res, failure, bodyLimitBytes, logger));
    });
  };
}
