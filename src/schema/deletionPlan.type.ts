import { Field, InputType, Int, ObjectType } from "type-graphql";
import { IsOptional, ValidateNested } from "class-validator";
import { Type } from "class-transformer";
import { SubjectInput } from "./request.input";

@ObjectType({ description: "One line of a deletion plan: in one connector and category, what erasure takes and what it keeps, why, until when. Counts only." })
export class DeletionPlanLine {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field(() => Int, { description: "Records found about the subject." })
  found!: number;

  @Field(() => Int, { description: "Records erasure takes." })
  toErase!: number;

  @Field(() => Int, { description: "Records kept." })
  toKeep!: number;

  @Field(() => String, { nullable: true, description: "RULE (a retention rule) or HOLD (a legal hold) when something is kept." })
  keptBy!: string | null;

  @Field(() => String, { nullable: true, description: "The legal basis of the rule or hold that keeps them." })
  legalBasis!: string | null;

  @Field(() => String, { nullable: true, description: "The legal hold that keeps them." })
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
