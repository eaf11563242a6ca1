import { Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { RequestStatus } from "../domain/enums";
import { DifferenceKind } from "../domain/counting";
import { IsOptional, ValidateNested } from "class-validator";
import { Type } from "class-transformer";
import { SubjectInput } from "./request.input";
import { NotSearchedRecordSet } from "./request.type";
import { RetentionException } from "./retention.type";

@ObjectType({ description: "One line of a deletion plan: in one connector and category, what erasure takes and what it keeps, why, until when. Counts only." })
export class DeletionPlanLine {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field(() => Int, { description: "Records found about the subject." })
  found!: number;

  @Field(() => Int, { description: "Records erasure takes (deleted, anonymised, or redacted with nothing personal left)." })
  toErase!: number;

  @Field(() => Int, { description: "Records kept." })
  toKeep!: number;

  @Field(() => Int, {
    description:
      "Records erasure will leave holding personal data, as the connector foresees it (a ticket thread another customer also wrote on stays for their sake; only the subject's own comments on it are redacted): neither erased nor kept, named in the request's residualRecords. found = toErase + toKeep + toLeaveResidual.",
  })
  toLeaveResidual!: number;

  @Field(() => String, { nullable: true, description: "Why those records stay (null when none does). No personal data." })
  residualReason!: string | null;

  @Field(() => String, { nullable: true, description: "RULE (a retention rule) or HOLD (a legal hold) when something is kept; a SERVICE token is told LEGAL_REASONS in place of HOLD (no hold named to the subject's side)." })
  keptBy!: string | null;

  @Field(() => String, { nullable: true, description: "The legal basis of the rule or hold that keeps them." })
  legalBasis!: string | null;

  @Field(() => String, { nullable: true, description: "The legal hold that keeps them (null for a SERVICE token)." })
  holdId!: string | null;

  @Field(() => Date, { nullable: true, description: "Records dated at or after this are kept by the rule." })
  keepSince!: Date | null;

  @Field(() => Date, { nullable: true, description: "When the kept records may be purged (null under a hold: until it is released)." })
  retainUntil!: Date | null;
}

@ObjectType({ description: "A connector the plan could not survey, and why." })
export class NotSurveyed {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Why (in user words)." })
  reason!: string;
}

@ObjectType({ description: "What a deletion of this subject would erase and keep, computed now without changing anything." })
export class DeletionPreview {
  @Field(() => Date, { description: "When the connectors were asked." })
  computedAt!: Date;

  @Field(() => [DeletionPlanLine], { description: "What would be erased and kept, per connector and category." })
  lines!: DeletionPlanLine[];

  @Field(() => [NotSurveyed], { description: "Connectors left out of the plan (no access support, manual, unreachable, or an identity they need was not found)." })
  notSurveyed!: NotSurveyed[];

  @Field(() => [NotSearchedRecordSet], { description: "Kinds of record a surveyed connector could not search for: a deletion would not find, count or erase them." })
  notSearched!: NotSearchedRecordSet[];

  @Field(() => [EarlierDeletionHeld], {
    description:
      "What earlier deletions of this subject (the latest 5 that ended, COMPLETED or FAILED) still keep: each one's OPEN retention exceptions, and the systems asked now with the identities it still keeps (a user id or payment customer id found before the account was erased; kept while an exception of it is open). The lines above come from the person's current identities, which no longer lead to those records, so a new deletion would not reach them either (its outcome names them keptByEarlier). Before, a preview after a deletion answered no line holding anything while payments kept by the 7-year rule were still held. Empty when no earlier deletion keeps anything.",
  })
  earlierDeletions!: EarlierDeletionHeld[];
}

@ObjectType({ description: "An earlier deletion of the subject and what the systems still hold of what it kept, surveyed now." })
export class EarlierDeletionHeld {
  @Field(() => ID, { description: "The earlier DELETION request." })
  requestId!: string;

  @Field(() => RequestStatus, { description: "How it ended (COMPLETED or FAILED)." })
  status!: RequestStatus;

  @Field(() => Date, { nullable: true, description: "When it ended." })
  closedAt!: Date | null;

  @Field(() => [RetentionException], { description: "Its retention exceptions still OPEN: the record sets it recorded as kept (rule or hold, legal basis, retainUntil), which its purge erases when they end." })
  kept!: RetentionException[];

  @Field(() => [DeletionPlanLine], {
    description:
      "Per connector and category, the records the systems hold now when asked with the identities it keeps (found > 0 only): toKeep under the rule or hold that keeps them (with retainUntil), toErase for those past their period, which its purge erases. Empty when it keeps no identity the current look-up lacks (notSurveyed then names each system of `kept`, saying that the preview's own lines count what the current identities reach), or when the systems hold nothing of it any more.",
  })
  lines!: DeletionPlanLine[];

  @Field(() => [NotSurveyed], { description: "Connectors that could not be asked with its identities, and why." })
  notSurveyed!: NotSurveyed[];
}

@InputType({ description: "Whose deletion to preview." })
export class PreviewDeletionInput {
  @Field(() => SubjectInput, { description: "The subject, as a DELETION request would carry it." })
  @ValidateNested()
  @Type(() => SubjectInput)
  subject!: SubjectInput;

  @Field(() => Boolean, { nullable: true, description: "Preview as for a person under 18 (only legal obligations keep anything)." })
  @IsOptional()
  concernsMinor?: boolean | null;
}

registerEnumType(DifferenceKind, {
  name: "PlanDifferenceKind",
  description: "How the world differed from a deletion's plan when its erasure ran.",
  valuesConfig: {
    HELD_SINCE_PLAN: { description: "A legal hold placed after the plan kept the category whole." },
    RELEASED_SINCE_PLAN: { description: "The legal hold the plan counted was released before erasure." },
    KEPT_FOR_LEGAL_REASONS_SINCE_PLAN: {
      description: "What a SERVICE token is told in place of HELD_SINCE_PLAN and RELEASED_SINCE_PLAN: what is kept for legal reasons changed between the plan and the erasure (no hold is named to the subject's side).",
    },
    MORE_RECORDS: { description: "Records appeared after the plan." },
    FEWER_RECORDS: { description: "Records of the plan were no longer there when erasure ran (an earlier attempt or someone else erased them): found neither by the person's identities nor, in a system that can look records up, by the ids the plan found (a kept record found so is counted kept)." },
    RETENTION_MOVED: { description: "Records aged out of (or came under) a retention period between the plan and the erasure." },
    RESIDUAL: { description: "Records still hold personal data after erasure beyond what the plan foresaw (toLeaveResidual; see residualRecords); never counted as erased." },
    RESIDUAL_AVOIDED: { description: "Records the plan foresaw as residual were erased or kept instead: what would have left them holding personal data had changed (another customer's words on a thread were gone)." },
    ERASED_BY_FAILED_ATTEMPT: {
      description:
        "Records of the plan an earlier attempt that failed may have erased (its write landed, then the system answered an error): gone when the connector counted what remained after that failure (the task's outcome.erasedInDoubt), not confirmed by the system's answer, and no longer found by the run that completed. Counted in erased, once; never FEWER_RECORDS. Not in a category where that run settled the failed attempt's unfinished units by their notes: what they did is then the connector's count.",
    },
  },
});

@ObjectType({ description: "One way an erasure's line differs from its plan's line, and why." })
export class PlanDifference {
  @Field(() => DifferenceKind, { description: "What changed." })
  kind!: DifferenceKind;

  @Field(() => Int, { description: "How many records it concerns." })
  records!: number;

  @Field({ description: "Why, in words for people (no personal data)." })
  reason!: string;
}

@ObjectType({
  description:
    "What a deletion's erasure did in one connector and category, beside its plan's line. Counted by the same rule as the plan (one record as collect yields it, each once: erased, kept or residual), so it equals the plan's line unless `differences` names why not.",
})
export class DeletionOutcomeLine {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field(() => Int, { nullable: true, description: "The plan's found (null: the plan found nothing here)." })
  plannedFound!: number | null;

  @Field(() => Int, { nullable: true, description: "The plan's toErase." })
  plannedToErase!: number | null;

  @Field(() => Int, { nullable: true, description: "The plan's toKeep." })
  plannedToKeep!: number | null;

  @Field(() => Int, { nullable: true, description: "The plan's toLeaveResidual." })
  plannedToLeaveResidual!: number | null;

  @Field(() => Int, { description: "Records erased: deleted, anonymised, or redacted in place with nothing personal left." })
  erased!: number;

  @Field(() => Int, { description: "Of erased, records redacted in place (e.g. by a payment processor's redaction job)." })
  redacted!: number;

  @Field(() => Int, { description: "Records kept under a retention rule or legal hold (the request's retentionExceptions)." })
  kept!: number;

  @Field(() => Int, { description: "Records that still hold personal data although not kept (the request's residualRecords)." })
  residual!: number;

  @Field({ description: "True when the line equals the plan's: erased = toErase, kept = toKeep, residual = toLeaveResidual." })
  matchesPlan!: boolean;

  @Field(() => [PlanDifference], { description: "Every difference from the plan's line, with its reason (empty when it matches)." })
  differences!: PlanDifference[];
}

/** What a residual set and an erased residue set name alike: the connector, the records' kind, how many, why they stayed. */
@ObjectType({ description: "Records a deletion left in place: connector, category, record type, how many, why." })
abstract class ResidueSet {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field({ description: "Record type within the system." })
  recordType!: string;

  @Field(() => Int, { description: "How many records." })
  records!: number;

  @Field({ description: "Why they were left in place, in words for people." })
  reason!: string;
}

@ObjectType({ description: "Records a deletion left holding personal data: which, the fields that remain, why. Never counted as erased." })
export class ResidualRecordSet extends ResidueSet {
  @Field(() => [String], { description: "The personal fields that remain (names only)." })
  fields!: string[];
}

@ObjectType({ description: "Records a deletion left residual because kept records held them back (an account the kept records hang off, a row they refer to), erased by id by the purge that erased what held them back." })
export class ErasedResidueSet extends ResidueSet {
  @Field(() => Date, { description: "When the purge erased them." })
  erasedAt!: Date;
}
