import { Authorized, Ctx, FieldResolver, Query, Resolver, Root } from "type-graphql";
import { ANY_ROLE, READERS } from "../auth/roles";
import type { GraphQLContext } from "../graphql/context";
import { presentRetentionException, presentRetentionRule } from "../presenters/retention.presenter";
import { findRetentionExceptions, holdsExtending } from "../queries/retentionFinder";
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
  async retentionExceptions(@Root() request: Request, @Ctx() ctx: GraphQLContext): Promise<RetentionException[]> {
    const rows = request.parts?.exceptions ?? (await findRetentionExceptions(ctx.services.ds, request.id));
    // The subject in matching form is what the request row keeps (null once removed), as holds are keyed.
    const extending = request.parts?.extending ?? (await holdsExtending(ctx.services.ds, request.subject?.emailNormalized ?? null, rows));
    return rows.map((row) => presentRetentionException(row, extending.get(row.id) ?? null));
  }
}
