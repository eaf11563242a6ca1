import { Args, Authorized, Ctx, FieldResolver, Mutation, Resolver, Root } from "type-graphql";
import { ANY_ROLE, DECIDERS } from "../auth/roles";
import { createExportLink } from "../commands/exportLinkCreator";
import { linkBase, type GraphQLContext } from "../graphql/context";
import { presentExport } from "../presenters/export.presenter";
import { requestPart } from "../queries/requestPartsFinder";
import { CreateExportLinkArgs, Export, ExportLink } from "../schema/export.type";
import { Request } from "../schema/request.type";

@Resolver(() => Request)
export class RequestExportResolver {
  @Authorized(ANY_ROLE)
  @FieldResolver(() => Export, { nullable: true, description: "The request's portable export, once its EXPORT task has written it (null before, and after its retention ends). A request that followed an earlier duplicate (duplicateOf) shows that one's export." })
  export(@Root() request: Request): Export | null {
    const row = requestPart(request, "export");
    return row ? presentExport(row) : null;
  }
}

@Resolver(() => ExportLink)
export class ExportLinkResolver {
  @Authorized(DECIDERS)
  @Mutation(() => ExportLink, {
    description:
      "A signed, expiring link that downloads a request's export (decrypted while it streams; every download is audited). A request that followed an earlier duplicate gets that one's export. CONFLICT when there is none, saying why. ADMIN, PRIVACY_OFFICER.",
  })
  async createExportLink(@Args() { requestId, ttl }: CreateExportLinkArgs, @Ctx() ctx: GraphQLContext): Promise<ExportLink> {
    const link = await createExportLink(ctx.services, ctx.actor, requestId, ttl ?? undefined, linkBase(ctx));
    return { url: link.url, expiresAt: link.expiresAt, export: presentExport(link.export) };
  }
}
