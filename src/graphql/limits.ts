import { ApolloArmor } from "@escape.tech/graphql-armor";
import type { ApolloServerPlugin } from "@apollo/server";
import type { ValidationRule } from "graphql";

/**
 * The API limits (DESIGN "Security model"). Fixed numbers, not settings: the admin consoles' queries fit
 * well inside them, and a limit an operator can raise in a hurry is not a limit.
 */
export const API_LIMITS = { maxDepth: 6, maxCost: 5000, maxAliases: 15, maxDirectives: 50, maxTokens: 1000 } as const;

/**
 * Rejection messages say which limit was hit, never its number or how far over the operation was:
 * exact numbers help someone tune an attack to sit just under them.
 */
export const LIMIT_MESSAGES = {
  depth: "The operation is nested too deeply; ask for fewer levels",
  cost: "The operation asks for too much at once; split it or ask for fewer fields or items",
  aliases: "The operation uses too many aliases",
  directives: "The operation uses too many directives",
  tokens: "The operation is too long; split it",
} as const;

const rejectAs = (message: string) => ({ exposeLimits: false, errorMessage: message });

/**
 * graphql-armor's depth, cost, alias and directive rules, configured with
 * API_LIMITS. Fragments are flattened: a fragment spread is not a level, so clients that organise their
 * queries in fragments pay for the fields they ask for, not for the way they wrote them. The depth rule
 * exempts only a *field* named `__schema` (the introspection entry point, off in production): an
 * operation, fragment or alias named `__schema` counts like any other (test/apiLimits.test.ts proves it).
 *
 * Tokens are counted by graphql-js's own parser (`parseOptions.maxTokens`): armor's token plugin throws
 * from a hook where Apollo answers HTTP 500 instead of 400. formatError rewrites its message.
 */
export function apiLimits(): { plugins: ApolloServerPlugin[]; validationRules: ValidationRule[]; parseOptions: { maxTokens: number } } {
  const armor = new ApolloArmor({
    maxDepth: { n: API_LIMITS.maxDepth, flattenFragments: true, ...rejectAs(LIMIT_MESSAGES.depth) },
    costLimit: { maxCost: API_LIMITS.maxCost, flattenFragments: true, ...rejectAs(LIMIT_MESSAGES.cost) },
    maxAliases: { n: API_LIMITS.maxAliases, ...rejectAs(LIMIT_MESSAGES.aliases) },
    maxDirectives: { n: API_LIMITS.maxDirectives, ...rejectAs(LIMIT_MESSAGES.directives) },
    maxTokens: { enabled: false },
    // Apollo's hideSchemaDetailsFromClientErrors removes suggestions whole; armor's mask leaves "[Suggestion hidden]?".
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return { plugins: armor.plugins, validationRules: armor.validationRules, parseOptions: { maxTokens: API_LIMITS.maxTokens } };
}

/**
 * The caller-facing message of a limit rejection: armor prefixes "Syntax Error: " (the operation is
 * valid GraphQL), and graphql-js's token message names the limit. Other messages pass unchanged.
 */
export function limitMessage(message: string): string {
  if (/^Syntax Error: Document contains more th(?:an|at) \d+ tokens/.test(message)) return LIMIT_MESSAGES.tokens;
  const unprefixed = message.replace(/^Syntax Error: /, "");
  return (Object.values(LIMIT_MESSAGES) as string[]).includes(unprefixed) ? unprefixed : message;
}
