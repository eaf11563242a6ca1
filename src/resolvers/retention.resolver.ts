import { Authorized, Ctx, FieldResolver, Query, Resolver, Root } from "type-graphql";
import { ANY_ROLE, READERS } from "../auth/roles";
import type { GraphQLContext } from "../graphql/context";
import { exceptionForSubject, seesLegalHolds } from "../presenters/holdPrivacy";
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
  @FieldResolver(() => [RetentionException], { description: "Record sets this deletion kept, and until when (outstanding and closed). A SERVICE token is told a set a legal hold keeps as kept for legal reasons (legalBasis `kept for legal reasons`, holdId and extendedByHoldId null; a rule's set a hold extends without retainUntil): never which hold, its case or reason. The counts stand." })
  retentionExceptions(@Root() request: Request, @Ctx() ctx: GraphQLContext): RetentionException[] {
    const extending = requestPart(request, "extending");
    const all = requestPart(request, "exceptions").map((row) => presentRetentionException(row, extending.get(row.id) ?? null));
    // The subject's side (a SERVICE token) learns that records are kept for legal reasons, never which hold keeps them or why.
    return seesLegalHolds(ctx.caller) ? all : all.map(exceptionForSubject);
  }
}
