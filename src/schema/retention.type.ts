import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { RetentionStart } from "../domain/retention";
import { RetentionExceptionStatus } from "../entities";

registerEnumType(RetentionStart, {
  name: "RetentionStart",
  description: "What a retention period counts from.",
  valuesConfig: {
    RECORD_DATE: { description: "The date of each record." },
    ACCOUNT_CLOSURE: { description: "The closure of the person's account." },
  },
});

registerEnumType(RetentionExceptionStatus, {
  name: "RetentionExceptionStatus",
  description: "Whether kept records are still held.",
  valuesConfig: {
    OPEN: { description: "The records are kept until retainUntil." },
    CLOSED: { description: "The records were purged." },
  },
});

@ObjectType({ description: "How long a data category is kept, from when, and why (defaults: the published retention schedule)." })
export class RetentionRuleInfo {
  @Field({ description: "Data category: ACCOUNT, AUTH_LOGS, PAYMENTS, SUPPORT, or one a connector declares." })
  category!: string;

  @Field({ description: "The period, e.g. `7 years` or `90 days`." })
  period!: string;

  @Field(() => Int, { description: "Whole years of the period." })
  years!: number;

  @Field(() => Int, { description: "Days added to the years." })
  days!: number;

  @Field(() => RetentionStart, { description: "What the period counts from." })
  countsFrom!: RetentionStart;

  @Field({ description: "The legal basis, as published." })
  legalBasis!: string;

  @Field({ description: "Whether a deletion keeps records still inside the period (and records an exception for them)." })
  keepsOnDeletion!: boolean;
}

@ObjectType({ description: "A record set a deletion kept: which, under which basis, until when. Counts only." })
export class RetentionException {
  @Field(() => ID, { description: "Exception id (a later deletion that could not look for these records names it: TaskOutcome.keptByEarlier)." })
  id!: string;

  @Field({ description: "Connector that holds the records." })
  connector!: string;

  @Field({ description: "Data category of the records." })
  category!: string;

  @Field({ description: "Kind of record, e.g. `invoice`." })
  recordType!: string;

  @Field(() => Int, { description: "How many records are kept." })
  recordCount!: number;

  @Field({ description: "The legal basis of the rule or hold that keeps them." })
  legalBasis!: string;

  @Field(() => [String], { description: "Fields blanked on the kept records because the basis does not need them." })
  redactedFields!: string[];

  @Field(() => Date, { nullable: true, description: "When the records may be purged; null under a legal hold (until it is released)." })
  retainUntil!: Date | null;

  @Field(() => String, { nullable: true, description: "The legal hold that keeps them, when a hold (not a rule) does (null for a SERVICE token, whose legalBasis then says `kept for legal reasons`)." })
  holdId!: string | null;

  @Field(() => String, {
    nullable: true,
    description: "A legal hold placed on the person while the rule's period runs: the records are kept past retainUntil, until that hold is released (from retainUntil on, holdId names it). Null when none.",
  })
  extendedByHoldId!: string | null;

  @Field(() => RetentionExceptionStatus, { description: "OPEN while kept; CLOSED once purged, or erased by a later deletion of the person (audit event retention.erased_by_later_request on this request names it)." })
  status!: RetentionExceptionStatus;

  @Field(() => Date, { description: "When the exception was recorded." })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: "When the records were purged." })
  closedAt!: Date | null;
}
