import { Arg, Authorized, Ctx, FieldResolver, Mutation, Resolver, Root } from "type-graphql";
import { ANY_ROLE, DECIDERS } from "../auth/roles";
import { previewDeletion } from "../commands/deletionPreviewer";
import type { GraphQLContext } from "../graphql/context";
import { outcomeLineForSubject, planLineForSubject, seesLegalHolds } from "../presenters/holdPrivacy";
import { requestPart } from "../queries/requestPartsFinder";
import { currentResidualSets, deletionOutcomeOf, erasedResidueOf } from "../queries/deletionOutcomeFinder";
import { DeletionOutcomeLine, DeletionPlanLine, DeletionPreview, ErasedResidueSet, PreviewDeletionInput, ResidualRecordSet } from "../schema/deletionPlan.type";
import { Request } from "../schema/request.type";
import { presentRetentionException } from "../presenters/retention.presenter";

@Resolver(() => Request)
export class RequestDeletionPlanResolver {
  @Authorized(ANY_ROLE)
  @FieldResolver(() => [DeletionPlanLine], { description: "For a DELETION: the plan it executes, computed from its surveys before any erasure. Empty until the surveys ran, and for other types. A SERVICE token is told a line a legal hold keeps as kept for legal reasons (keptBy LEGAL_REASONS, legalBasis `kept for legal reasons`, holdId null); the counts stand." })
  deletionPlan(@Root() request: Request, @Ctx() ctx: GraphQLContext): DeletionPlanLine[] {
    const lines = requestPart(request, "plan");
    return seesLegalHolds(ctx.caller) ? lines : lines.map(planLineForSubject);
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => [DeletionOutcomeLine], {
    description:
      "For a DELETION: what each connector's erasure did, per category, beside the plan's line: equal to it, or with every difference named (a hold placed or released since, records that appeared or were gone, records that aged out, residue). Empty until an erasure finished. A SERVICE token is told a hold placed or released since the plan as KEPT_FOR_LEGAL_REASONS_SINCE_PLAN, naming no hold.",
  })
  deletionOutcome(@Root() request: Request, @Ctx() ctx: GraphQLContext): DeletionOutcomeLine[] {
    const lines = deletionOutcomeOf(requestPart(request, "tasks"));
    return seesLegalHolds(ctx.caller) ? lines : lines.map(outcomeLineForSubject);
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => [ResidualRecordSet], { description: "For a DELETION: records its erasure (or a later purge of kept sets) left holding personal data, with the fields that remain and why. Never counted as erased." })
  residualRecords(@Root() request: Request): ResidualRecordSet[] {
    return currentResidualSets(requestPart(request, "tasks"));
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => [ErasedResidueSet], {
    description:
      "For a DELETION: records its erasure left residual only because kept records held them back (an account kept records hang off, a row they refer to), that a later purge erased by id once those were gone, with when. They are no longer in residualRecords.",
  })
  erasedResidue(@Root() request: Request): ErasedResidueSet[] {
    return erasedResidueOf(requestPart(request, "tasks"));
  }
}

@Resolver()
export class DeletionPreviewResolver {
  @Authorized(DECIDERS)
  @Mutation(() => DeletionPreview, {
    description:
      "Dry run of a deletion: asks every connector now what it holds about the subject and returns what a deletion would erase and keep, with the rule or hold and retainUntil of each kept set. Changes no data (writes an audit event). ADMIN, PRIVACY_OFFICER.",
  })
  async previewDeletion(@Arg("input", () => PreviewDeletionInput, { description: "The subject (and whether they are under 18)." }) input: PreviewDeletionInput, @Ctx() ctx: GraphQLContext): Promise<DeletionPreview> {
    const preview = await previewDeletion(ctx.services, ctx.actor, input.subject, input.concernsMinor === true);
    return { ...preview, earlierDeletions: preview.earlierDeletions.map((e) => ({ ...e, kept: e.kept.map((k) => presentRetentionException(k.row, k.extendedBy)) })) };
  }
}
