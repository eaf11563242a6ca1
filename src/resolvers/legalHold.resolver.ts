import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { DECIDERS } from "../auth/roles";
import { placeLegalHold, releaseLegalHold } from "../commands/legalHoldPlacer";
import type { GraphQLContext } from "../graphql/context";
import { heldCategories, LegalHoldRow } from "../entities";
import { findLegalHolds } from "../queries/legalHoldFinder";
import { LegalHold, LegalHoldsArgs, PlaceLegalHoldInput, ReleaseLegalHoldArgs } from "../schema/legalHold.type";

function present(row: LegalHoldRow): LegalHold {
  return { ...row, categories: heldCategories(row) };
}

@Resolver(() => LegalHold)
export class LegalHoldResolver {
  @Authorized(DECIDERS)
  @Query(() => [LegalHold], { description: "Legal holds, newest first (at most 500). ADMIN, PRIVACY_OFFICER." })
  async legalHolds(@Args() args: LegalHoldsArgs, @Ctx() ctx: GraphQLContext): Promise<LegalHold[]> {
    return (await findLegalHolds(ctx.services.ds, args)).map(present);
  }

  @Authorized(DECIDERS)
  @Mutation(() => LegalHold, {
    description: "Places a legal hold on a subject: deletions keep the held categories (recorded as retention exceptions) until it is released. ADMIN, PRIVACY_OFFICER.",
  })
  async placeLegalHold(@Arg("input", () => PlaceLegalHoldInput, { description: "Whom to hold, which categories, why, under which case." }) input: PlaceLegalHoldInput, @Ctx() ctx: GraphQLContext): Promise<LegalHold> {
    return present(await placeLegalHold(ctx.services, ctx.actor, input));
  }

  @Authorized(DECIDERS)
  @Mutation(() => LegalHold, { description: "Releases a hold; what it kept is purged at the next purge run unless a retention rule still keeps it. CONFLICT if already released. ADMIN, PRIVACY_OFFICER." })
  async releaseLegalHold(@Args() { id, reason }: ReleaseLegalHoldArgs, @Ctx() ctx: GraphQLContext): Promise<LegalHold> {
    return present(await releaseLegalHold(ctx.services, ctx.actor, id, reason));
  }
}
