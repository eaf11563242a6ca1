import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { DECIDERS, READERS } from "../auth/roles";
import { createBreachRosterLink, noRosterFileReason, startBreachRoster } from "../commands/breachRoster";
import { BreachRosterRow, BreachRosterStatus } from "../entities";
import { notFound } from "../errors";
import type { GraphQLContext } from "../graphql/context";
import { BreachRoster, BreachRosterArgs, BreachRosterLink, BreachRostersArgs, CreateBreachRosterLinkArgs, StartBreachRosterInput } from "../schema/breachRoster.type";

function present(row: BreachRosterRow): BreachRoster {
  const systems = row.systems ?? [];
  const completed = row.status === BreachRosterStatus.COMPLETED;
  return {
    id: row.id,
    connectors: row.connectors,
    reason: row.reason,
    caseReference: row.caseReference,
    status: row.status,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
    complete: completed ? systems.filter((s) => s.role === "BREACHED").every((s) => s.outcome === "LISTED") : null,
    people: row.people,
    withoutEmail: row.withoutEmail,
    systems,
    fileAvailable: noRosterFileReason(row) === null,
    fileExpiresAt: completed && row.objectKey ? row.expiresAt : null,
    attempts: row.attempts,
    lastError: row.lastError,
  };
}

@Resolver(() => BreachRoster)
export class BreachRosterResolver {
  @Authorized(DECIDERS)
  @Mutation(() => BreachRoster, {
    description:
      "Draws a breach roster of the named systems: a worker lists everyone they hold personal data about and finds their contact addresses through the identity sources; poll breachRoster(id) until COMPLETED, then download it with createBreachRosterLink. BAD_USER_INPUT for a connector that is not registered. Audited. ADMIN, PRIVACY_OFFICER.",
  })
  async startBreachRoster(@Arg("input", () => StartBreachRosterInput, { description: "The breached systems, what happened, the incident's reference." }) input: StartBreachRosterInput, @Ctx() ctx: GraphQLContext): Promise<BreachRoster> {
    return present(await startBreachRoster(ctx.services, ctx.actor, input));
  }

  @Authorized(READERS)
  @Query(() => BreachRoster, { description: "One breach roster (counts only; the people are in its file). NOT_FOUND for an unknown id. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async breachRoster(@Args() { id }: BreachRosterArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRoster> {
    const row = await ctx.services.ds.getRepository(BreachRosterRow).findOneBy({ id: id.toLowerCase() });
    if (!row) throw notFound("Breach roster", id);
    return present(row);
  }

  @Authorized(READERS)
  @Query(() => [BreachRoster], { description: "Breach rosters, newest first. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async breachRosters(@Args() { first }: BreachRostersArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRoster[]> {
    return (await ctx.services.ds.getRepository(BreachRosterRow).find({ order: { createdAt: "DESC", id: "ASC" }, take: first })).map(present);
  }

  @Authorized(DECIDERS)
  @Mutation(() => BreachRosterLink, {
    description: "A signed, expiring link that downloads a COMPLETED roster's CSV file (decrypted while it streams; every download is audited). CONFLICT when it has no file, saying why. ADMIN, PRIVACY_OFFICER.",
  })
  async createBreachRosterLink(@Args() { id, ttl }: CreateBreachRosterLinkArgs, @Ctx() ctx: GraphQLContext): Promise<BreachRosterLink> {
    const baseUrl = ctx.services.config.DSR_PUBLIC_URL ?? ctx.origin ?? `http://127.0.0.1:${ctx.services.config.PORT}`;
    const link = await createBreachRosterLink(ctx.services, ctx.actor, id, ttl ?? undefined, baseUrl);
    return { url: link.url, expiresAt: link.expiresAt, roster: present(link.roster) };
  }
}
