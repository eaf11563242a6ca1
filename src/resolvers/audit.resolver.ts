import { Args, ArgsType, Authorized, Ctx, Field, ID, Query, Resolver } from "type-graphql";
import { IsBoolean, IsOptional, IsUUID } from "class-validator";
import { READERS } from "../auth/roles";
import { verifyAuditTrail } from "../audit/verifyCommand";
import type { GraphQLContext } from "../graphql/context";
import { presentTrailVerification } from "../presenters/audit.presenter";
import { presentAuditEvent } from "../presenters/request.presenter";
import { findAuditEvents, findRequest } from "../queries/requestFinder";
import { AuditEvent, AuditTrailVerification } from "../schema/audit.type";

@ArgsType()
class AuditEventsArgs {
  @Field(() => ID, { description: "The request whose events to list." })
  @IsUUID("all", { message: "requestId must be a request id (a UUID)" })
  requestId!: string;
}

@ArgsType()
class VerifyAuditTrailArgs {
  @Field({ defaultValue: false, description: "Check everything from the first event and checkpoint, instead of from the checkpoint an earlier verification found intact." })
  @IsOptional()
  @IsBoolean({ message: "full must be true or false" })
  full!: boolean;
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
    description:
      "Checks the audit trail against the signed checkpoints kept outside the database, and says what was changed, deleted, inserted, reordered or rewritten, and where. By default from the checkpoint an earlier verification found intact; `full: true` checks everything. ADMIN, PRIVACY_OFFICER, AUDITOR.",
  })
  async verifyAuditTrail(@Args() { full }: VerifyAuditTrailArgs, @Ctx() ctx: GraphQLContext): Promise<AuditTrailVerification> {
    return presentTrailVerification(await verifyAuditTrail(ctx.services, { full }));
  }
}
