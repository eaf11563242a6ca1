import { GraphQLSchema, lexicographicSortSchema, printSchema } from "graphql";
import { buildSchema } from "type-graphql";
import { authChecker } from "../auth/authChecker";
import { AuditResolver } from "../resolvers/audit.resolver";
import { RequestResolver } from "../resolvers/request.resolver";
import { ViewerResolver } from "../resolvers/viewer.resolver";

export const RESOLVERS = [RequestResolver, AuditResolver, ViewerResolver] as const;

let built: Promise<GraphQLSchema> | undefined;

/** The executable schema (built once per process; type-graphql metadata is global). */
export function buildDsrSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({
    resolvers: RESOLVERS,
    authChecker,
    validate: { forbidUnknownValues: false, stopAtFirstError: false },
  });
  return built;
}

/** The SDL committed as schema.graphql: sorted, so diffs show real changes only. */
export async function printDsrSchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await buildDsrSchema()))}\n`;
}
