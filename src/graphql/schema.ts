import { GraphQLSchema, isObjectType, lexicographicSortSchema, printSchema } from "graphql";
import { buildSchema, getMetadataStorage } from "type-graphql";
import { DateTimeISO } from "./scalars";
import { validateArgument } from "./validation";
import { authChecker } from "../auth/authChecker";
import { AuditResolver } from "../resolvers/audit.resolver";
import { RequestResolver } from "../resolvers/request.resolver";
import { ViewerResolver } from "../resolvers/viewer.resolver";
import { RequestTasksResolver, TaskResolver } from "../resolvers/task.resolver";
import { ConnectorResolver } from "../resolvers/connector.resolver";
import { RequestRetentionResolver, RetentionResolver } from "../resolvers/retention.resolver";
import { LegalHoldResolver } from "../resolvers/legalHold.resolver";
import { BreachRosterResolver } from "../resolvers/breachRoster.resolver";
import { DeletionPreviewResolver, RequestDeletionPlanResolver } from "../resolvers/deletionPlan.resolver";
import { SettingsResolver } from "../resolvers/settings.resolver";
import { CertificateResolver } from "../resolvers/certificate.resolver";
import { ExportLinkResolver, RequestExportResolver } from "../resolvers/export.resolver";

export const RESOLVERS = [
  RequestResolver,
  RequestTasksResolver,
  TaskResolver,
  ConnectorResolver,
  RetentionResolver,
  RequestRetentionResolver,
  LegalHoldResolver,
  BreachRosterResolver,
  RequestDeletionPlanResolver,
  DeletionPreviewResolver,
  SettingsResolver,
  CertificateResolver,
  RequestExportResolver,
  ExportLinkResolver,
  AuditResolver,
  ViewerResolver,
] as const;

let built: Promise<GraphQLSchema> | undefined;

/** The executable schema (built once per process; type-graphql metadata is global). */
export function buildDsrSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({
    resolvers: RESOLVERS,
    authChecker,
    scalarsMap: [{ type: Date, scalar: DateTimeISO }],
    validateFn: validateArgument,
  }).then((schema) => {
    // type-graphql has no option for the root types' descriptions; they are part of the API reference too.
    schema.getQueryType()!.description = "Reads. Every query needs a bearer token; each field says which roles may use it.";
    schema.getMutationType()!.description = "Changes. Every mutation needs a bearer token, is one transaction, and writes an audit event.";
    readPlainFieldsDirectly(schema);
    return schema;
  });
  return built;
}

/**
 * type-graphql wraps every field in a resolver that runs its middleware chain, even a field with none: on a
 * page of 50 requests that is hundreds of calls doing `root[name]`. A field with no @Authorized rule, no
 * middleware and no field resolver gets graphql-js's default resolver instead, which reads the same
 * property. Anything guarded keeps its wrapper; buildSchema above has no global middlewares (one added
 * there would have to run for every field, and this would have to go).
 */
function readPlainFieldsDirectly(schema: GraphQLSchema): void {
  const storage = getMetadataStorage();
  for (const objectType of storage.objectTypes) {
    const type = schema.getType(objectType.name);
    if (!isObjectType(type)) continue;
    const fields = type.getFields();
    for (const field of objectType.fields ?? []) {
      const guarded = (field.roles?.length ?? 0) > 0 || (field.middlewares?.length ?? 0) > 0;
      const resolved = storage.fieldResolvers.some((r) => r.methodName === field.name && r.getObjectType?.() === objectType.target);
      if (!guarded && !resolved && field.name === field.schemaName && fields[field.schemaName]) fields[field.schemaName].resolve = undefined;
    }
  }
}

/** The SDL committed as schema.graphql: sorted, so diffs show real changes only. */
export async function printDsrSchema(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await buildDsrSchema()))}\n`;
}
