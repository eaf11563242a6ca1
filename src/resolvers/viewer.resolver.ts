import { Authorized, Ctx, Query, Resolver } from "type-graphql";
import { ANY_ROLE } from "../auth/roles";
import type { GraphQLContext } from "../graphql/context";
import { Viewer } from "../schema/viewer.type";

@Resolver()
export class ViewerResolver {
  @Authorized(ANY_ROLE)
  @Query(() => Viewer, { description: "The caller's token: its id, name and role. All roles." })
  viewer(@Ctx() ctx: GraphQLContext): Viewer {
    return { tokenId: ctx.caller.tokenId, name: ctx.caller.name, role: ctx.caller.role };
  }
}
