import { randomUUID } from "node:crypto";
import { unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import type { ValidationError } from "class-validator";
import { ArgumentValidationError } from "type-graphql";
import { DsrError, ErrorCode, FieldProblem } from "../errors";
import type { Logger } from "../logger";
import { limitMessage } from "./limits";
import { apiNames, ApiNames, callerMessage, operationProblem } from "./callerMistakes";
import { buildDsrSchema } from "./schema";

/** Apollo/graphql-js codes that mean "your operation is wrong": all become BAD_USER_INPUT. */
const CALLER_MISTAKES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "OPERATION_RESOLUTION_FAILURE",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
]);
const KEPT_AS_IS = new Set<string>(["UNAUTHENTICATED", "FORBIDDEN"]);

/** Field names and messages only: class-validator's errors also carry the whole input (`target`, `value`). */
export function fieldProblems(errors: ValidationError[], prefix = ""): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...fieldProblems(e.children ?? [], field)];
  });
}

/**
 * "Did you mean ...?" maps the schema for a caller who cannot introspect it. Apollo's
 * hideSchemaDetailsFromClientErrors and armor remove the ones they know; this catches any other.
 */
function withoutSuggestions(message: string): string {
  return message.replace(/\s*Did you mean [^?]*\?/g, "");
}

/** Apollo's refusal of introspection tells the caller to reconfigure the server; say what they can do instead. */
const INTROSPECTION_REFUSED = /^GraphQL introspection is not allowed by Apollo Server/;
export const INTROSPECTION_MESSAGE = "Introspection is off in production; the schema is published as schema.graphql (also printed by `dsr schema`)";

/** The code an error will carry once formatted (for logs and metrics, before formatting happens). */
export function errorCodeOf(error: { extensions?: Record<string, unknown>; originalError?: unknown }): ErrorCode {
  const original = unwrapResolverError(error);
  if (original instanceof DsrError) return original.code;
  if (original instanceof ArgumentValidationError) return "BAD_USER_INPUT";
  const code = String(error.extensions?.code ?? "");
  if (CALLER_MISTAKES.has(code)) return "BAD_USER_INPUT";
  if (operationProblemOf(original)) return "BAD_USER_INPUT";
  if (KEPT_AS_IS.has(code)) return code as ErrorCode;
  return "INTERNAL_SERVER_ERROR";
}

/**
 * graphql-js's own complaint about the operation that carries no code (a `subscription`, too many invalid
 * variable values), reworded; null for anything else. Only an error graphql-js raised itself qualifies:
 * no wrapped error and no field path.
 */
function operationProblemOf(error: unknown): string | null {
  if (!(error instanceof GraphQLError) || error.originalError || error.path) return null;
  return operationProblem(error.message);
}

/** The inner error's message of a variable coercion error (see callerMessage). */
function innerMessage(error: unknown): string | undefined {
  const inner = error instanceof GraphQLError ? error.originalError : undefined;
  return inner instanceof GraphQLError ? inner.message : undefined;
}

/**
 * Maps every error to the closed set of codes. Our own DsrErrors keep their message and extras;
 * caller mistakes become BAD_USER_INPUT; anything else is masked, logged with an errorId, and the
 * caller gets only that id to quote.
 */
export function makeFormatError(logger: Logger) {
  // The API's names may stay in reworded messages (callerMistakes.ts); until the schema is built, none do.
  let api: ApiNames = { names: new Set(), enumValues: new Map() };
  void buildDsrSchema().then((schema) => (api = apiNames(schema)));
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const shape = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLFormattedError => ({
      message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code, ...extra },
    });
    if (original instanceof DsrError) return shape(original.code, original.userMessage, original.extra);
    if (original instanceof ArgumentValidationError) {
      const fields = fieldProblems((original.extensions.validationErrors ?? []) as ValidationError[]);
      // One sentence per kind of problem: sixty bad items need not say the same thing sixty times.
      const summary = [...new Set(fields.flatMap((f) => f.messages))].join("; ");
      return shape("BAD_USER_INPUT", `Invalid input: ${summary}`, { fields });
    }
    const code = String(formatted.extensions?.code ?? "");
    if (CALLER_MISTAKES.has(code)) {
      if (INTROSPECTION_REFUSED.test(formatted.message)) return shape("BAD_USER_INPUT", INTROSPECTION_MESSAGE);
      const limit = limitMessage(formatted.message);
      return shape("BAD_USER_INPUT", limit !== formatted.message ? limit : withoutSuggestions(callerMessage(formatted.message, innerMessage(error), api)));
    }
    const problem = operationProblemOf(original);
    if (problem) return shape("BAD_USER_INPUT", problem);
    if (KEPT_AS_IS.has(code)) return shape(code as ErrorCode, formatted.message);
    const errorId = randomUUID();
    logger.error({ errorId, err: original, path: formatted.path }, "unexpected error (masked for the caller)");
    return shape("INTERNAL_SERVER_ERROR", `Internal server error; quote errorId ${errorId} when reporting it`, { errorId });
  };
}
