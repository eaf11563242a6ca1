import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { DECIDERS, READERS } from "../auth/roles";
import { createBreachRosterLink, startBreachRoster } from "../commands/breachRoster";
import { linkBase, type GraphQLContext } from "../graphql/context";
import { presentBreachRoster } from "../presenters/breachRoster.presenter";
import { findBreachRoster, findBreachRosters } from "../queries/breachRosterFinder";
import { BreachRoster, BreachRosterArgs, BreachRosterLink, BreachRostersArgs, CreateBreachRosterLinkArgs, StartBreachRosterInput } from "../schema/breachRoster.type";

@Resolver(() => BreachRoster)
export class BreachRosterResolver {
  @Authorized(DECIDERS)
  @Mutation(() => BreachRoster, {
    description:
      "Draws a breach roster of the named systems: a worker lists everyone they hold personal data about and finds their contact addresses through the identity sources; poll breachRoster(id) until COMPLETED, then download it with createBreachRosterLink. BAD_USER_INPUT for a connector that is not registered. Audited. ADMIN, PRIVACY_OFFICER.",
  })
  async startBreachRoster(@Arg("input", () => StartBreachRosterInput, { description: "The breached systems, what happened, the incident's reference." }) input: StartBreachRosterInput, @Ctx() ctx: GraphQLContext): Promise<BreachRoster> {
    return presentBreachRoster(await startBreachRoster(ctx.services, ctx.actor, input));
  }

  @Authorized(READERS)
  @Query(() => BreachRoster, { description: "One breach roster (counts only; the people are in its file). NOT_FOUND for an unknown id. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async breachRoster(@Args() { id }: BreachRosterArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRoster> {
    return presentBreachRoster(await findBreachRoster(ctx.services.ds, id));
  }

  @Authorized(READERS)
  @Query(() => [BreachRoster], { description: "Breach rosters, newest first. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async breachRosters(@Args() { first }: BreachRostersArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRoster[]> {
    return (await findBreachRosters(ctx.services.ds, first)).map(presentBreachRoster);
  }

  @Authorized(DECIDERS)
  @Mutation(() => BreachRosterLink, {
    description: "A signed, expiring link that downloads a COMPLETED roster's CSV file (decrypted while it streams; every download is audited). CONFLICT when it has no file, saying why. ADMIN, PRIVACY_OFFICER.",
  })
  async createBreachRosterLink(@Args() { id, ttl }: CreateBreachRosterLinkArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRosterLink> {
    const link = await createBreachRosterLink(ctx.services, ctx.actor, id, ttl ?? undefined, linkBase(ctx));
    return { url: link.url, expiresAt: link.expiresAt, roster: presentBreachRoster(link.roster) };
  }
}
