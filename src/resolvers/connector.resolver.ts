import { Authorized, Ctx, Query, Resolver } from "type-graphql";
import { READERS } from "../auth/roles";
import type { GraphQLContext } from "../graphql/context";
import { checkConnector } from "../orchestrator/health";
import { locationOf } from "../orchestrator/registry";
import { ConnectorInfo } from "../schema/connector.type";

@Resolver()
export class ConnectorResolver {
  @Authorized(READERS)
  @Query(() => [ConnectorInfo], { description: "Every registered connector with its spec and a live health check. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async connectors(@Ctx() ctx: GraphQLContext): Promise<ConnectorInfo[]> {
    const { connectors, clock, logger, config } = ctx.services;
    return Promise.all(
      connectors.list().map(async (c) => ({
        ...locationOf(c, config.DSR_PROCESSING_LOCATION),
        name: c.spec.name,
        version: c.spec.version,
        supports: [...c.spec.supports],
        needs: [...c.spec.needs],
        needsAny: c.spec.needsAny ?? false,
        provides: [...c.spec.provides],
        categories: [...c.spec.categories],
        manual: c.spec.manual ?? false,
        health: await checkConnector(c, clock, logger),
      })),
    );
  }
}
