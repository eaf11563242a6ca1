import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import { requestAccountDeletion } from "../commands/accountDeletionRequester";
import { Role } from "../domain/enums";
import type { GraphQLContext } from "../graphql/context";
import { presentRequestFor } from "../presenters/request.presenter";
import { withoutOthersRequests } from "../auth/requestAccess";
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
  async requestAccountDeletion(@Arg("input", () => RequestAccountDeletionInput, { description: "Key and subject." }) input: RequestAccountDeletionInput, @Ctx() ctx: GraphQLContext): Promise<Request> {
    return presentRequestFor(ctx.services, await withoutOthersRequests(ctx.services, ctx.caller, await requestAccountDeletion(ctx.services, ctx.actor, input)));
  }
}
