import { Authorized, Ctx, FieldResolver, Query, Resolver, Root } from "type-graphql";
import { ANY_ROLE, READERS } from "../auth/roles";
import type { GraphQLContext } from "../graphql/context";
import { presentRetentionException, presentRetentionRule } from "../presenters/retention.presenter";
import { requestPart } from "../queries/requestPartsFinder";
import { Request } from "../schema/request.type";
import { RetentionException, RetentionRuleInfo } from "../schema/retention.type";

@Resolver()
export class RetentionResolver {
  @Authorized(READERS)
  @Query(() => [RetentionRuleInfo], { description: "The retention rules in force, one per data category. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  retentionRules(@Ctx() ctx: GraphQLContext): RetentionRuleInfo[] {
    return ctx.services.retentionRules.map(presentRetentionRule);
  }
}

@Resolver(() => Request)
export class RequestRetentionResolver {
  @Authorized(ANY_ROLE)
  @FieldResolver(() => [RetentionException], { description: "Record sets this deletion kept, and until when (outstanding and closed)." })
  retentionExceptions(@Root() request: Request): RetentionException[] {
    const extending = requestPart(request, "extending");
    return requestPart(request, "exceptions").map((row) => presentRetentionException(row, extending.get(row.id) ?? null));
  }
}
