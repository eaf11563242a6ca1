import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "Who did something: an API token, the operator CLI, or the service itself." })
export class AuditActor {
  @Field({ description: "`token:<token id>`, `cli` or `system`." })
  id!: string;

  @Field({ description: "The actor's role at the time (ADMIN, PRIVACY_OFFICER, AUDITOR, SERVICE, CLI or SYSTEM)." })
  role!: string;
}

@ObjectType({ description: "One event of the hash-chained audit trail. Carries no personal data." })
export class AuditEvent {
  @Field(() => Int, { description: "Position in the chain (1, 2, 3, ...)." })
  seq!: number;

  @Field(() => ID, { nullable: true, description: "The request it is about, if any." })
  requestId!: string | null;

  @Field(() => AuditActor, { description: "Who acted." })
  actor!: AuditActor;

  @Field({ description: "What happened, as `noun.verb` (request.submitted, request.approved, ...)." })
  action!: string;

  @Field(() => GraphQLJSONObject, { description: "Statuses, counts and reasons of the event." })
  details!: Record<string, unknown>;

  @Field(() => Date, { description: "When it happened." })
  occurredAt!: Date;

  @Field({ description: "SHA-256 of the previous event (64 zeros for the first)." })
  prevHash!: string;

  @Field({ description: "SHA-256 over prevHash and this event's content." })
  hash!: string;
}

@ObjectType({ description: "The result of recomputing the whole audit chain." })
export class AuditTrailVerification {
  @Field({ description: "True when every event is present, unchanged and in order." })
  ok!: boolean;

  @Field(() => Int, { description: "Events checked before the first problem (all of them when ok)." })
  checkedEvents!: number;

  @Field(() => Int, { nullable: true, description: "seq of the first event that does not fit the chain." })
  firstBrokenSeq!: number | null;

  @Field(() => String, { nullable: true, description: "What is wrong at firstBrokenSeq." })
  problem!: string | null;
}
