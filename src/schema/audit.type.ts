import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";

@ObjectType({ description: "Who did something: an API token, the operator CLI, or the service itself." })
export class AuditActor {
  @Field({ description: "`token:<token id>`, `cli` or `system`." })
  id!: string;

  @Field({ description: "The actor's role at the time (ADMIN, PRIVACY_OFFICER, AUDITOR, SERVICE, CLI or SYSTEM)." })
  role!: string;
}

@ObjectType({ description: "One event of the hash-chained audit trail. Carries no personal data." })
export class AuditEvent {
  @Field({ description: "The trail (hash chain) it belongs to: the request's id, or `installation` for installation-wide events." })
  stream!: string;

  @Field(() => Int, { description: "Position in its trail (1, 2, 3, ...)." })
  seq!: number;

  @Field(() => ID, { nullable: true, description: "The request it is about, if any." })
  requestId!: string | null;

  @Field(() => AuditActor, { description: "Who acted." })
  actor!: AuditActor;

  @Field({ description: "What happened, as `noun.verb` (request.submitted, request.approved, ...)." })
  action!: string;

  @Field(() => GraphQLJSONObject, { description: "Statuses, counts and reasons of the event: the service's own reasons as they are; of a reason a person typed (a rejection, cancellation, extension or hold release) only `reasonGiven: true`, the words staying on the record they explain until it is cleared." })
  details!: Record<string, unknown>;

  @Field(() => Date, { description: "When it happened." })
  occurredAt!: Date;

  @Field({ description: "SHA-256 of the previous event of its trail (64 zeros for the first)." })
  prevHash!: string;

  @Field({ description: "SHA-256 over the trail, position, content and prevHash of this event." })
  hash!: string;
}

export enum AuditProblemKind {
  EVENT_CHANGED = "EVENT_CHANGED",
  EVENT_MISSING = "EVENT_MISSING",
  EVENT_INSERTED = "EVENT_INSERTED",
  EVENTS_REORDERED = "EVENTS_REORDERED",
  CHAIN_BROKEN = "CHAIN_BROKEN",
  CHAIN_REWRITTEN = "CHAIN_REWRITTEN",
  CHECKPOINT_MISSING = "CHECKPOINT_MISSING",
  CHECKPOINT_ALTERED = "CHECKPOINT_ALTERED",
}

registerEnumType(AuditProblemKind, {
  name: "AuditProblemKind",
  description: "What a verification found wrong with the audit trail.",
  valuesConfig: {
    EVENT_CHANGED: { description: "An event's content was changed after it was written (it no longer matches its hash)." },
    EVENT_MISSING: { description: "Events were deleted: a gap in a trail, or events a checkpoint sealed are gone." },
    EVENT_INSERTED: { description: "Events were inserted into a trail after it was written." },
    EVENTS_REORDERED: { description: "Events were moved to other positions in their trail." },
    CHAIN_BROKEN: { description: "An event does not follow the one before it: one was deleted in between, or replaced and its hash recomputed." },
    CHAIN_REWRITTEN: { description: "A trail is consistent in itself but no longer ends where a signed checkpoint sealed it: it was recomputed by someone with database access." },
    CHECKPOINT_MISSING: { description: "A signed checkpoint was removed from storage." },
    CHECKPOINT_ALTERED: { description: "A checkpoint's signature fails, or it is not the file the next checkpoint was linked to, or the database marks it as verified intact without a verification's signature." },
  },
});

@ObjectType({ description: "One thing a verification found wrong, and where." })
export class AuditTrailProblem {
  @Field(() => AuditProblemKind, { description: "What kind of tampering it shows." })
  kind!: AuditProblemKind;

  @Field(() => String, { nullable: true, description: "The trail concerned: a request id, or `installation`; null for a checkpoint problem." })
  stream!: string | null;

  @Field(() => Int, { nullable: true, description: "The position of the event concerned in its trail." })
  seq!: number | null;

  @Field(() => Int, { nullable: true, description: "The checkpoint concerned, if any." })
  checkpoint!: number | null;

  @Field({ description: "What is wrong, in words." })
  description!: string;
}

@ObjectType({ description: "The result of checking the audit trail against the signed checkpoints kept outside the database." })
export class AuditTrailVerification {
  @Field({ description: "True when every checkpoint is present, signed and linked, and every event is unchanged, in place and where its checkpoints sealed it." })
  ok!: boolean;

  @Field({ description: "True when everything was checked from the first event; false when the check started from the checkpoint an earlier verification found intact." })
  full!: boolean;

  @Field(() => Int, { nullable: true, description: "The checkpoint this check started from (null: from the beginning)." })
  fromCheckpoint!: number | null;

  @Field(() => Int, { nullable: true, description: "The newest checkpoint found (null: none written yet)." })
  latestCheckpoint!: number | null;

  @Field(() => Date, { nullable: true, description: "When the newest checkpoint was sealed." })
  latestCheckpointAt!: Date | null;

  @Field(() => Int, { description: "Checkpoint files read and checked." })
  checkedCheckpoints!: number;

  @Field(() => Int, { description: "Trails (one per request, one for the installation) checked." })
  checkedStreams!: number;

  @Field(() => Int, { description: "Events recomputed and found in place." })
  checkedEvents!: number;

  @Field(() => Int, { description: "Events written after the newest checkpoint: protected by their hash chain only until the next checkpoint seals them." })
  unsealedEvents!: number;

  @Field(() => [AuditTrailProblem], { description: "What was found wrong (at most 100; problemCount has the total)." })
  problems!: AuditTrailProblem[];

  @Field(() => Int, { description: "How many problems were found." })
  problemCount!: number;

  @Field({ description: "The key the checkpoints must be signed with (ed25519:<id>; its public key is at /.well-known/dsr-audit-key.pem)." })
  keyId!: string;

  @Field({ description: "The outcome in one sentence." })
  summary!: string;

  @Field(() => Int, { nullable: true, description: "Position (in its trail) of the first problem's event, if it concerns one." })
  firstBrokenSeq!: number | null;

  @Field(() => String, { nullable: true, description: "The first problem, in words." })
  problem!: string | null;
}
