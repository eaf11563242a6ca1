import type { GraphQLResolveInfo } from "graphql";
import { Arg, Authorized, Ctx, Info, Mutation, Resolver } from "type-graphql";
import { requestAccountDeletion } from "../commands/accountDeletionRequester";
import { Role } from "../domain/enums";
import type { GraphQLContext } from "../graphql/context";
import { answerWith } from "./request.resolver";
import { Request } from "../schema/request.type";
import { RequestAccountDeletionInput } from "../schema/settings.input";

/** The account settings page's trigger. SERVICE only: only the settings backend holds the subject's authenticated session. */
@Resolver()
export class SettingsResolver {
  @Authorized([Role.SERVICE])
  @Mutation(() => Request, {
    description:
      "Account deletion from the settings page: a DELETION request (source SETTINGS) whose identity the caller's authenticated session verified (method SESSION), approved at once. Idempotent on idempotencyKey; its status changes are POSTed, signed, to DSR_CALLBACK_URL. SERVICE only.",
  })
  async requestAccountDeletion(@Arg("input", () => RequestAccountDeletionInput, { description: "Key and subject." }) input: RequestAccountDeletionInput, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return answerWith(ctx, info, await requestAccountDeletion(ctx.services, ctx.actor, input));
  }
}
