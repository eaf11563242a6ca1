import type { AuthChecker } from "type-graphql";
import type { GraphQLContext } from "../graphql/context";
import { Role } from "../domain/enums";
import { forbidden, unauthenticated } from "../errors";

/**
 * type-graphql's gate for every @Authorized operation and field. A caller without a token never gets
 * here (the context refuses it), but the check stays so that no path depends on that.
 */
export const authChecker: AuthChecker<GraphQLContext, Role> = ({ context, info }, roles) => {
  if (!context.caller) throw unauthenticated();
  if (roles.length === 0 || roles.includes(context.caller.role)) return true;
  const what = info.parentType.name === "Query" || info.parentType.name === "Mutation" ? info.fieldName : `${info.parentType.name}.${info.fieldName}`;
  throw forbidden(`Role ${context.caller.role} may not use ${what}; allowed: ${roles.join(", ")}`);
};
