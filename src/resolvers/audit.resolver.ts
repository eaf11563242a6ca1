import { Args, Authorized, Ctx, Query, Resolver } from "type-graphql";
import { READERS } from "../auth/roles";
import { verifyAuditChain } from "../audit/auditTrail";
import type { GraphQLContext } from "../graphql/context";
import { presentAuditEvent } from "../presenters/request.presenter";
import { findAuditEvents, findRequest } from "../queries/requestFinder";
import { AuditEvent, AuditTrailVerification } from "../schema/audit.type";

import { ArgsType, Field, ID } from "type-graphql";
import { IsUUID } from "class-validator";

@ArgsType()
class AuditEventsArgs {
  @Field(() => ID, { description: "The request whose events to list." })
  @IsUUID("all", { message: "requestId must be a request id (a UUID)" })
  requestId!: string;
}

@Resolver()
export class AuditResolver {
  @Authorized(READERS)
  @Query(() => [AuditEvent], { description: "Every audit event of one request, oldest first. ADMIN, PRIVACY_OFFICER, AUDITOR." })
  async auditEvents(@Args() { requestId }: AuditEventsArgs, @Ctx() ctx: GraphQLContext): Promise<AuditEvent[]> {
    await findRequest(ctx.services.ds, requestId);
    return (await findAuditEvents(ctx.services.ds, requestId)).map(presentAuditEvent);
  }

  @Authorized(READERS)
  @Query(() => AuditTrailVerification, {
    description: "Recomputes the whole hash chain and reports the first event that was changed, removed or moved. ADMIN, PRIVACY_OFFICER, AUDITOR.",
  })
  async verifyAuditTrail(@Ctx() ctx: GraphQLContext): Promise<AuditTrailVerification> {
    return verifyAuditChain(ctx.services.ds);
  }
}

