import { GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType, ArgsType } from "type-graphql";
import { Type } from "class-transformer";
import { ArrayMaxSize, IsOptional, IsUUID, Length, Matches, Max, Min, ValidateNested } from "class-validator";
import { ErasureConfirmation, TaskStatus, TaskStep } from "../domain/tasks";
import { IsIdentityText } from "../domain/text";

registerEnumType(TaskStep, {
  name: "TaskStep",
  description: "What a task does in its connector.",
  valuesConfig: {
    RESOLVE: { description: "Discover identities other connectors need (e.g. a payment customer id)." },
    COLLECT: { description: "Read the subject's records (access, portability)." },
    ERASE: { description: "Erase what may be erased (deletion); runs in reverse identity order." },
    RECTIFY: { description: "Apply the corrections of a CORRECTION request." },
    EXPORT: { description: "Merge collected records into the portable export." },
    PURGE: { description: "Erase records kept under retention once their period ends." },
  },
});

registerEnumType(ErasureConfirmation, {
  name: "ErasureConfirmation",
  description: "How an erasure's counts are known.",
  valuesConfig: {
    READ_BACK: { description: "The service read the system again after erasing and found only records kept or named residual." },
    CONNECTOR_REPORT: { description: "The connector's own report: it cannot list the person's records, so nothing was read back." },
    ATTESTED: { description: "A person confirmed the count (a manual connector's task, completeManualTask); see attestedBy." },
    NOT_REACHED: {
      description:
        "The service read the system again after erasing, but without an identity an earlier deletion of the person kept records under (the payment customer id the account row it erased had provided): its counts say nothing of those records, which stand (see keptByEarlier).",
    },
  },
});

registerEnumType(TaskStatus, {
  name: "TaskStatus",
  description: "Where a task is.",
  valuesConfig: {
    PENDING: { description: "Waiting to run: for its dependencies, for a worker, or for its next retry (see nextAttemptAt)." },
    RUNNING: { description: "A worker holds it under a lease." },
    SUCCEEDED: { description: "Done (final)." },
    FAILED: { description: "Out of attempts or failed for good; see lastError. retryTask re-queues it (final until then)." },
    SKIPPED: { description: "Not run, with the reason in note: the connector does not support the action, or lacks an identity (final)." },
    AWAITING_INPUT: { description: "A person must do this step and complete it with completeManualTask. Not completed DSR_MANUAL_TASK_GRACE_DAYS after the request's due date (as extended), the system FAILS it (lastError starts with MANUAL_TASK_LAPSED:) and the request ends FAILED; retryTask takes it back only once the deadline is extended." },
    REMOTE_PROCESSING: { description: "The remote system is still working; polled again at nextAttemptAt." },
  },
});

@ObjectType({ description: "Records other deletions of the person (earlier ones, ended or still at work) keep in a system that an erasure could not look for (it lacked an identity they were kept under): they stand, named by those requests' retentionExceptions." })
export class KeptByEarlier {
  @Field(() => Int, {
    description:
      "How many records the system held, when counted (countedAt), under the earlier deletions' identities and not under this erasure's: at most what their open retention exceptions in this system keep. A missing identity alone is no proof (a system may find the person by address too).",
  })
  records!: number;

  @Field(() => String, { nullable: true, description: "When they were counted (ISO 8601): the exceptions named were open then, and may have closed since (read them in retentionExceptions); null on outcomes recorded before it was." })
  countedAt!: string | null;

  @Field(() => [ID], { nullable: true, description: "On a deletion certificate: of exceptions, those still open when it was issued (the others closed since countedAt: purged, or superseded). Null on a task's outcome." })
  stillOpen!: string[] | null;

  @Field(() => [ID], { description: "The other deletions of the person keeping them (ended, or still at work). A SERVICE token is told only of its own (as Request.duplicateOf): the counts and exceptions stand." })
  requests!: string[];

  @Field(() => [ID], { description: "Their retention exceptions, open when counted (countedAt)." })
  exceptions!: string[];

  @Field(() => [String], { description: "Kinds of identity the later erasure lacked (e.g. paymentCustomerId), never their values." })
  identityKinds!: string[];
}

@ObjectType({ description: "Counts of what a task did (never records or identity values)." })
export class TaskOutcome {
  @Field(() => Int, { nullable: true, description: "Records collected." })
  records!: number | null;

  @Field(() => Int, { nullable: true, description: "Records erased. A FAILED erasure: those the system's answers confirmed (see erasedInDoubt)." })
  erased!: number | null;

  @Field(() => Int, {
    nullable: true,
    description:
      "An erasure or purge whose last attempt failed (FAILED, or PENDING for its next attempt): records of the plan (of a purge, of its kept sets) gone when the connector counted what remained after the failure, beyond those the system's answers confirmed erased (erased): the failed attempt may have erased them (a write that landed, answered with an error). Null when no count ran (a connector it cannot count in, a count that failed too). The next attempt, or a retry, that no longer finds them counts them erased (ERASED_BY_FAILED_ATTEMPT; a purge, in its erased).",
  })
  erasedInDoubt!: number | null;

  @Field(() => [String], { nullable: true, description: "Kinds of identity discovered (e.g. paymentCustomerId)." })
  identitiesFound!: string[] | null;

  @Field(() => [String], { nullable: true, description: "Fields corrected." })
  changed!: string[] | null;

  @Field(() => [String], { nullable: true, description: "Fields asked for that this system does not hold." })
  notHeld!: string[] | null;

  @Field(() => [String], {
    nullable: true,
    description:
      "A RECTIFY: fields asked for that this system left as they were because a legal hold keeps its data (holdCases names the holds): held data is evidence, not corrected while held. A field also in changed was corrected in part: the hold was placed while this system's correction ran, and its records written before keep the new value, the rest the old. Submit the correction again once the hold is released. Null for a SERVICE token (the request's statusReason names them as kept for legal reasons).",
  })
  keptByHold!: string[] | null;

  @Field(() => [String], { nullable: true, description: "With keptByHold: the case references of the legal holds that keep this system's data. Null for a SERVICE token." })
  holdCases!: string[] | null;

  @Field(() => Int, { nullable: true, description: "Records an erasure kept under a retention rule or legal hold (see the request's retentionExceptions)." })
  kept!: number | null;

  @Field(() => Int, { nullable: true, description: "Records the verification pass still found after erasure, every one of them kept or named residual (NOT_REACHED: of what it could look for; see keptByEarlier)." })
  remaining!: number | null;

  @Field(() => Int, { nullable: true, description: "Of erased, records redacted in place (e.g. by a payment processor's redaction job)." })
  redacted!: number | null;

  @Field(() => Int, { nullable: true, description: "Records the erasure left holding personal data, never counted as erased (see the request's residualRecords)." })
  residual!: number | null;

  @Field(() => ErasureConfirmation, { nullable: true, description: "An ERASE: how its counts are known (null for other steps, and for erasures that ended before the service recorded it)." })
  confirmation!: ErasureConfirmation | null;

  @Field(() => String, { nullable: true, description: "ATTESTED: the actor who confirmed the count (`token:<id>`, `cli`)." })
  attestedBy!: string | null;

  @Field(() => KeptByEarlier, { nullable: true, description: "NOT_REACHED: what earlier deletions of the person keep in this system that this erasure could not look for (remaining counts only what it could); null otherwise." })
  keptByEarlier!: KeptByEarlier | null;
}

@ObjectType({ description: "One connector x one step of a request: durable, leased, retried." })
export class Task {
  @Field(() => ID, { description: "Task id." })
  id!: string;

  @Field({ description: "Connector name." })
  connector!: string;

  @Field(() => TaskStep, { description: "What it does." })
  step!: TaskStep;

  @Field(() => TaskStatus, { description: "Where it is." })
  status!: TaskStatus;

  @Field(() => Int, { description: "Attempts started so far." })
  attempts!: number;

  @Field(() => Int, { description: "Attempts allowed before it fails." })
  maxAttempts!: number;

  @Field(() => String, { nullable: true, description: "The last failure, in words for people." })
  lastError!: string | null;

  @Field(() => String, { nullable: true, description: "Why it was skipped, what a person must do, or (REMOTE_PROCESSING) what the remote system is still doing, e.g. objects with a payment processor's redaction jobs and those waiting for one." })
  note!: string | null;

  @Field(() => TaskOutcome, { nullable: true, description: "What it did, once it did something." })
  outcome!: TaskOutcome | null;

  @Field(() => Date, { nullable: true, description: "When it runs or is polled next (PENDING after a failure, REMOTE_PROCESSING)." })
  nextAttemptAt!: Date | null;

  @Field(() => Date, { description: "When it was planned." })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: "When its first attempt started." })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: "When it finished." })
  finishedAt!: Date | null;

  @Field(() => Date, { description: "Last change." })
  updatedAt!: Date;
}

@ObjectType({
  description:
    "The connectors' share of a request, in steps: each task, and each closing pass a deletion's erasure owes (the ERASE runs again once the identity source is erased). finished never goes backwards while the request runs.",
})
export class Progress {
  @Field(() => Int, { description: "Steps planned: the tasks, and the closing passes still owed or run (fewer once one is found not to be owed)." })
  total!: number;

  @Field(() => Int, { description: "Steps finished: tasks succeeded, failed or skipped (an ERASE in its closing pass counts its first pass), and closing passes ended." })
  finished!: number;

  @Field(() => Float, { description: "finished / total, from 0 to 1 (1 when there is nothing to do)." })
  fraction!: number;

  @Field(() => Int, { description: "Tasks waiting for a person." })
  awaitingInput!: number;

  @Field(() => Int, { description: "Tasks waiting for a remote system." })
  remoteProcessing!: number;

  @Field(() => Int, { description: "Tasks that failed." })
  failed!: number;
}

@ArgsType()
export class TaskIdArgs {
  @Field(() => ID, { description: "The task's id." })
  @IsUUID("all", { message: "id must be a task id (a UUID)" })
  id!: string;
}

@InputType({ description: "A record a person found in a system with no API." })
export class ManualRecordInput {
  @Field({ description: "Data category (ACCOUNT, AUTH_LOGS, PAYMENTS, SUPPORT, ...)." })
  @Matches(/^[A-Z][A-Z0-9_]{1,39}$/, { message: "category must be an upper-case category name such as ACCOUNT" })
  category!: string;

  @Field({ description: "Kind of record in that system (1-64 characters)." })
  @Length(1, 64, { message: "type must be 1 to 64 characters" })
  @IsIdentityText()
  type!: string;

  @Field({ description: "The record's id in that system (1-255 characters)." })
  @Length(1, 255, { message: "id must be 1 to 255 characters" })
  @IsIdentityText()
  id!: string;

  @Field(() => GraphQLJSONObject, { description: "The record's fields." })
  data!: Record<string, unknown>;

  @Field(() => Date, { nullable: true, description: "When the record came into being, if known." })
  @IsOptional()
  recordedAt?: Date | null;
}

@InputType({ description: "How a person finished a manual task." })
export class CompleteManualTaskInput {
  @Field(() => ID, { description: "The task (AWAITING_INPUT)." })
  @IsUUID("all", { message: "taskId must be a task id (a UUID)" })
  taskId!: string;

  @Field(() => [ManualRecordInput], { nullable: true, description: "COLLECT: the records found (an empty list when none), each of one of the connector's categories; at most 10,000." })
  @IsOptional()
  @ArrayMaxSize(10_000)
  @ValidateNested({ each: true })
  @Type(() => ManualRecordInput)
  records?: ManualRecordInput[] | null;

  @Field(() => Int, { nullable: true, description: "ERASE: how many records were erased." })
  @IsOptional()
  @Min(0)
  @Max(1_000_000_000)
  erasedCount?: number | null;

  @Field(() => [String], { nullable: true, description: "RECTIFY (required): the fields that were changed, each one the correction asks for; a field asked for and not listed is recorded as not held by this system (an empty list: it holds none). While a legal hold keeps any of the connector's categories for the subject, only an empty list is taken (CONFLICT otherwise, nothing recorded), and every field asked for is recorded as keptByHold." })
  @IsOptional()
  @ArrayMaxSize(50)
  @IsIdentityText({ each: true })
  changedFields?: string[] | null;
}

