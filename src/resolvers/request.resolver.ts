import type { GraphQLResolveInfo } from "graphql";
import { Arg, Args, Authorized, Ctx, FieldResolver, Info, Mutation, Query, Resolver, Root } from "type-graphql";
import { DECIDERS, READERS, ANY_ROLE, SUBMITTERS, PERSON_SEARCHERS } from "../auth/roles";
import { assertRequestVisible, maySearchByPerson, requestVisibleTo, withoutOthersRequests } from "../auth/requestAccess";
import type { RequestRow } from "../entities";
import { decideRequest } from "../commands/requestDecider";
import { extendDeadline } from "../commands/deadlineExtender";
import { submitRequest } from "../commands/requestSubmitter";
import { resendVerificationCode } from "../commands/verificationCodeIssuer";
import { verifyRequest } from "../commands/requestVerifier";
import type { GraphQLContext } from "../graphql/context";
import { selectedFields } from "../graphql/selection";
import { presentAuditEvent, presentRequestFor, requestColumns } from "../presenters/request.presenter";
import { findRequest, findRequests } from "../queries/requestFinder";
import { forbidden } from "../errors";
import { AuditEvent } from "../schema/audit.type";
import { RequestConnection } from "../schema/connection.type";
import {
  CancelRequestArgs,
  ExtendDeadlineArgs,
  RejectRequestArgs,
  RequestIdArgs,
  RequestsArgs,
  SubmitRequestInput,
  VerifyRequestArgs,
} from "../schema/request.input";
import { NotSearchedRecordSet, Request, VerificationCodeDelivery } from "../schema/request.type";
import { RequestStatus } from "../domain/enums";
import { notSearchedIn } from "../queries/taskFinder";
import { findRequestParts, partsFor, requestPart, type RequestParts } from "../queries/requestPartsFinder";
import { inReadSnapshot } from "../db/transaction";
import { seesLegalHolds } from "../presenters/holdPrivacy";
import { RequestType } from "../domain/enums";
import { statusReasonForSubject } from "../orchestrator/correctionReason";
import type { EntityManager } from "typeorm";
import type { RequestView } from "../presenters/request.presenter";

const present = (ctx: GraphQLContext, row: RequestView, now?: Date) => presentRequestFor(ctx.services, row, now);
/** A request presented with the parts read beside its row. */
const withParts = (request: Request, parts: ReadonlyMap<string, RequestParts>): Request => {
  request.parts = parts.get(request.id);
  return request;
};
/** One request for its caller (see withoutOthersRequests). */
const presentOne = async (ctx: GraphQLContext, row: RequestRow) => {
  const request = present(ctx, await withoutOthersRequests(ctx.services, ctx.caller, row));
  if (!seesLegalHolds(ctx.caller)) request.statusReason = await statusReasonForSubject(ctx.services.ds.manager, row);
  return request;
};


/**
 * The request `load` reads and the parts the selected `fields` read of it, in one snapshot (invariant 3):
 * its fields are resolved after the snapshot ended, from what was read in it.
 */
async function inOneSnapshot(ctx: GraphQLContext, fields: ReadonlySet<string>, load: (em: EntityManager) => Promise<RequestRow>): Promise<Request> {
  const { row, parts } = await inReadSnapshot(ctx.services.ds, async (em) => {
    const row = await load(em);
    return { row, parts: await findRequestParts(em, [row], fields) };
  });
  return withParts(await presentOne(ctx, row), parts);
}

/**
 * A mutation's answer about the request it changed. When the selection reads the row alone, the row as
 * its own transaction committed it; when it reads more (tasks, plan, trail, export...), the request and
 * all of that in one snapshot right after the commit: it may show a later change (a worker's), never a
 * row of one moment beside tasks or a trail of another.
 */
export async function answerWith(ctx: GraphQLContext, info: GraphQLResolveInfo, row: RequestRow): Promise<Request> {
  const fields = selectedFields(info);
  if (!Object.values(partsFor(fields)).some(Boolean)) return withParts(await presentOne(ctx, row), new Map([[row.id, {}]]));
  return inOneSnapshot(ctx, fields, (em) => findRequest(em, row.id));
}

@Resolver(() => Request)
export class RequestResolver {
  @Authorized(ANY_ROLE)
  @Query(() => Request, {
    description: "One request by id. All roles; NOT_FOUND when there is none. A SERVICE token reads only the requests it submitted (NOT_FOUND for any other).",
  })
  async request(@Args() { id }: RequestIdArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return inOneSnapshot(ctx, selectedFields(info), (em) => requestVisibleTo(ctx.services, ctx.caller, id, em));
  }

  @Authorized(READERS)
  @Query(() => RequestConnection, {
    description: "Requests, soonest due first, as a Relay connection. ADMIN, PRIVACY_OFFICER, AUDITOR; filtering by subjectEmail (a search by person) ADMIN, PRIVACY_OFFICER only.",
  })
  async requests(@Args() { first, after, filter }: RequestsArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<RequestConnection> {
    if (filter?.subjectEmail != null && !maySearchByPerson(ctx.caller)) {
      throw forbidden(`Role ${ctx.caller.role} may list and count requests but not search them by a person (filter.subjectEmail); allowed: ${PERSON_SEARCHERS.join(", ")}`);
    }
    // Only what the operation reads: the columns of the selected node fields, the count if totalCount is asked for.
    const now = ctx.services.clock.now();
    const fields = selectedFields(info, ["edges", "node"]);
    // The page and what its fields read beside the rows, as of one moment (invariant 3), a statement per part.
    const { page, parts } = await inReadSnapshot(ctx.services.ds, async (em) => {
      const page = await findRequests(em, now, filter ?? {}, first, after, { columns: requestColumns(fields), withTotal: selectedFields(info).has("totalCount") });
      return { page, parts: await findRequestParts(em, page.rows, fields) };
    });
    return {
      edges: page.rows.map((row, i) => ({ cursor: page.cursors[i], node: withParts(present(ctx, row, now), parts) })),
      pageInfo: {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: page.hasPreviousPage,
        startCursor: page.cursors[0] ?? null,
        endCursor: page.cursors[page.cursors.length - 1] ?? null,
      },
      // Not selected when null, so never read.
      totalCount: page.totalCount ?? 0,
    };
  }

  @Authorized(SUBMITTERS)
  @Mutation(() => Request, {
    description:
      "Takes a new request. Unless identityVerified is set, it waits in PENDING_VERIFICATION and a one-time code is sent to the subject; RATE_LIMITED (reason VERIFICATION_CODE_LIMIT, retryAfterSeconds), storing nothing, once the address has been sent DSR_VERIFICATION_CODES_PER_DAY codes in 24 hours. ADMIN, PRIVACY_OFFICER, SERVICE.",
  })
  async submitRequest(@Arg("input", () => SubmitRequestInput, { description: "The request: type, subject and (for CORRECTION) the changes." }) input: SubmitRequestInput, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return answerWith(ctx, info, await submitRequest(ctx.services, ctx.actor, input));
  }

  @Authorized(SUBMITTERS)
  @Mutation(() => Request, {
    description:
      "Checks the subject's one-time code: PENDING_VERIFICATION -> PENDING_APPROVAL. A wrong code is BAD_USER_INPUT and counts against the attempt limit; an expired or locked code, or a request not awaiting verification, is CONFLICT. ADMIN, PRIVACY_OFFICER, SERVICE (its own requests only).",
  })
  async verifyRequest(@Args() { id, code }: VerifyRequestArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    await assertRequestVisible(ctx.services, ctx.caller, id);
    return answerWith(ctx, info, await verifyRequest(ctx.services, ctx.actor, id, code));
  }

  @Authorized(SUBMITTERS)
  @Mutation(() => Request, { description: "Sends a fresh one-time code and resets the attempt count (PENDING_VERIFICATION only). RATE_LIMITED (reason VERIFICATION_CODE_LIMIT, retryAfterSeconds), the current code unchanged, once the address has been sent DSR_VERIFICATION_CODES_PER_DAY codes in 24 hours, across its requests. ADMIN, PRIVACY_OFFICER, SERVICE (its own requests only)." })
  async resendVerificationCode(@Args() { id }: RequestIdArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    await assertRequestVisible(ctx.services, ctx.caller, id);
    return answerWith(ctx, info, await resendVerificationCode(ctx.services, ctx.actor, id));
  }

  @Authorized(DECIDERS)
  @Mutation(() => Request, { description: "Approves a verified request: PENDING_APPROVAL -> IN_PROGRESS. CONFLICT for a CORRECTION while an earlier-received, verified correction of the same person changing one of its fields has not ended, or once a later-received one changing such a field was approved (corrections of a field take effect in the order received, a repeat that follows an earlier one at work included; one still waiting for its code holds nothing back). ADMIN, PRIVACY_OFFICER." })
  async approveRequest(@Args() { id }: RequestIdArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return answerWith(ctx, info, await decideRequest(ctx.services, ctx.actor, "approve", id));
  }

  @Authorized(DECIDERS)
  @Mutation(() => Request, { description: "Refuses a request that has not started, with a reason: -> REJECTED. ADMIN, PRIVACY_OFFICER." })
  async rejectRequest(@Args() { id, reason }: RejectRequestArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return answerWith(ctx, info, await decideRequest(ctx.services, ctx.actor, "reject", id, reason));
  }

  @Authorized(SUBMITTERS)
  @Mutation(() => Request, { description: "Withdraws a request before work starts: -> CANCELLED. ADMIN, PRIVACY_OFFICER, SERVICE (its own requests only)." })
  async cancelRequest(@Args() { id, reason }: CancelRequestArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    await assertRequestVisible(ctx.services, ctx.caller, id);
    return answerWith(ctx, info, await decideRequest(ctx.services, ctx.actor, "cancel", id, reason));
  }

  @Authorized(DECIDERS)
  @Mutation(() => Request, { description: "Moves an open request's due date later, with a reason (at most 60 days in total). ADMIN, PRIVACY_OFFICER." })
  async extendDeadline(@Args() { id, days, reason }: ExtendDeadlineArgs, @Ctx() ctx: GraphQLContext, @Info() info: GraphQLResolveInfo): Promise<Request> {
    return answerWith(ctx, info, await extendDeadline(ctx.services, ctx.actor, id, days, reason));
  }

  @Authorized(READERS)
  @FieldResolver(() => [AuditEvent], {
    nullable: true,
    description: "This request's audit events, oldest first. ADMIN, PRIVACY_OFFICER, AUDITOR (others get null and a FORBIDDEN error for this field).",
  })
  auditEvents(@Root() request: Request): AuditEvent[] {
    return requestPart(request, "auditEvents").map(presentAuditEvent);
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => VerificationCodeDelivery, {
    nullable: true,
    description:
      "While the request waits for its one-time code (PENDING_VERIFICATION): whether the notifier took the current code, SENT, or refused it, UNDELIVERED (the person then has nothing to answer with: resendVerificationCode sends a new one). Null in any other status. submitRequest and resendVerificationCode answer it as it stands once the notifier has answered.",
  })
  verificationCodeDelivery(@Root() request: Request): VerificationCodeDelivery | null {
    if (request.status !== RequestStatus.PENDING_VERIFICATION) return null;
    return requestPart(request, "codeDelivered") ? VerificationCodeDelivery.SENT : VerificationCodeDelivery.UNDELIVERED;
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => [NotSearchedRecordSet], {
    description:
      "Kinds of record a system may hold about the subject that its connector could not search for (reported by the request's collects; empty until they ran, and when every kind was searched). The export and the deletion certificate name them too: a COMPLETED request says what it did not look at.",
  })
  notSearched(@Root() request: Request): NotSearchedRecordSet[] {
    return notSearchedIn(requestPart(request, "tasks"));
  }
}
