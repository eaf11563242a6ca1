import type { ApolloServerPlugin } from "@apollo/server";
import type { Logger } from "../logger";
import { graphqlDuration, operationLabel } from "../metrics";
import type { GraphQLContext } from "./context";
import { errorCodeOf } from "./formatError";

/**
 * One log line and one latency observation per GraphQL operation: operation name, duration, outcome
 * (OK or the first error's code) and, through the scoped logger, the caller's role and token id.
 * Never the variables or the query text: both may carry personal data.
 */
export function observeOperations(fallback: Logger): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operationName, errors, contextValue: ctx }) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const codes = (errors ?? []).map(errorCodeOf);
          const outcome = codes[0] ?? "OK";
          graphqlDuration.observe({ operation: operationLabel(operationName), outcome }, seconds);
          ((ctx ?? contextValue)?.logger ?? fallback).info(
            { operationName: operationName?.slice(0, 100) ?? null, durationMs: Math.round(seconds * 1e4) / 10, outcome, errorCodes: codes },
            "graphql operation",
          );
        },
      };
    },
  };
}
