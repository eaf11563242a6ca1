import { Field, ID, Int, ObjectType, Authorized, registerEnumType } from "type-graphql";
import { PERSONAL_DATA_READERS } from "../auth/roles";
import { RequestSource, RequestStatus, RequestType, TERMINAL_STATUSES, VerificationMethod } from "../domain/enums";
import { Instant, isBefore } from "../graphql/scalars";
import "./enums";
import type { RequestParts } from "../queries/requestPartsFinder";

@ObjectType({ description: "An identifier of the subject in another system." })
export class ExternalId {
  @Field({ description: "The system, e.g. `stripe` or `zendesk`." })
  system!: string;

  @Field({ description: "The subject's id in that system." })
  id!: string;
}

@ObjectType({ description: "Who the request is about. Personal data: not shown to AUDITOR tokens." })
export class Subject {
  @Field({ description: "Email address as the person typed it; every request has one." })
  email!: string;

  @Field({ description: "The email in the form it is matched by everywhere (trimmed, NFC, lower case, an internationalised domain in Unicode: `ada@XN--BCHER-KVA.de` is `ada@bücher.de`): holds, duplicates, filters and connectors use this, and connectors also look the person up by the domain's ASCII spelling." })
  emailNormalized!: string;

  @Field(() => [String], {
    description:
      "Every spelling a system may have stored this address under, to look the person up by: `emailNormalized`, with an internationalised domain its ASCII (IDNA) spelling too (`ada@bücher.de`, `ada@xn--bcher-kva.de`), and with accented letters before the @ each with those decomposed (NFD: `e` and a combining accent for `é`). Connectors search each; a person doing a manual connector's task searches each.",
  })
  emailSpellings!: string[];

  @Field(() => String, { nullable: true, description: "User id in the platform (trimmed, NFC; compared exactly), if known." })
  userId!: string | null;

  @Field(() => String, { nullable: true, description: "Phone number in E.164 form, if given." })
  phone!: string | null;

  @Field(() => [ExternalId], { description: "Ids of the subject in other systems. They live in their own namespace: connectors need them as `external:<system>`, and they never stand for the email, phone or user id." })
  externalIds!: ExternalId[];
}

@ObjectType({ description: "One change a CORRECTION request asks for." })
export class FieldChange {
  @Field({ description: "The field to correct, e.g. `name` or `company`." })
  field!: string;

  @Field({ description: "The value the subject asks for." })
  value!: string;
}

/** What became of the current one-time code at the notifier (Request.verificationCodeDelivery). */
export enum VerificationCodeDelivery {
  SENT = "SENT",
  UNDELIVERED = "UNDELIVERED",
}

registerEnumType(VerificationCodeDelivery, {
  name: "VerificationCodeDelivery",
  description: "What became of the current one-time code at the notifier (DSR_NOTIFIER).",
  valuesConfig: {
    SENT: { description: "The notifier accepted it (not proof that the person read it)." },
    UNDELIVERED: { description: "The notifier refused it: the person has no code to answer with; resendVerificationCode sends a new one." },
  },
});

@ObjectType({ description: "How the subject's identity is being or was verified." })
export class Verification {
  @Field(() => VerificationMethod, { nullable: true, description: "How it was verified; null while pending." })
  method!: VerificationMethod | null;

  @Field(() => Date, { nullable: true, description: "When it was verified; null while pending." })
  verifiedAt!: Instant | null;

  @Field(() => String, { nullable: true, description: "What a trusted caller said it checked (TRUSTED_CALLER only); removed DSR_REQUEST_RECORD_RETENTION_DAYS after the request ended, with its subject (`subjectRemovedAt`)." })
  evidence!: string | null;

  @Field(() => Date, { nullable: true, description: "When the current one-time code expires; null when no code is outstanding." })
  codeExpiresAt!: Instant | null;

  @Field(() => Int, { nullable: true, description: "Wrong codes still allowed for the current code; null when no code is outstanding." })
  attemptsLeft!: number | null;
}

@ObjectType({
  description:
    "A kind of record a system may hold about the subject that its connector had no way to search for with the identities it had (for example a payment processor's guest payments when its email search is not available). Not a count: nobody knows how many there are. Named by the request, its export and its deletion certificate, so that nothing reads as complete that was never searched.",
})
export class NotSearchedRecordSet {
  @Field({ description: "Connector." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field({ description: "Record type within the system." })
  recordType!: string;

  @Field({ description: "Why it could not be searched for, and what would let it be, in words for people." })
  reason!: string;
}

@ObjectType({ description: "A data-subject request: one right exercised by one person, with its deadline and lifecycle." })
export class Request {
  @Field(() => ID, { description: "Request id (UUID)." })
  id!: string;

  @Field(() => RequestType, { description: "The right exercised." })
  type!: RequestType;

  @Field(() => RequestStatus, { description: "Lifecycle status." })
  status!: RequestStatus;

  @Field(() => RequestSource, { description: "Where the request came from." })
  source!: RequestSource;

  @Authorized(PERSONAL_DATA_READERS)
  @Field(() => Subject, {
    nullable: true,
    description:
      "Who the request is about (ADMIN, PRIVACY_OFFICER, SERVICE only; other roles get null and a FORBIDDEN error for this field). Null without an error once the record's personal data was removed (`subjectRemovedAt`).",
  })
  subject!: Subject | null;

  @Authorized(PERSONAL_DATA_READERS)
  @Field(() => [FieldChange], {
    nullable: true,
    description: "The changes a CORRECTION asks for; null for other types, and once the record's personal data was removed (`subjectRemovedAt`) (ADMIN, PRIVACY_OFFICER, SERVICE only).",
  })
  corrections!: FieldChange[] | null;

  @Field(() => Date, {
    nullable: true,
    description:
      "When the personal data this record kept (the subject's identities, a CORRECTION's values) was removed, DSR_REQUEST_RECORD_RETENTION_DAYS after the request ended (later while a retention exception it kept was open); `subject` and `corrections` are null from then on and searches by the subject no longer find it. What was done (type, status, dates, tasks, counts, audit trail) stays. Null while they are kept.",
  })
  subjectRemovedAt!: Instant | null;

  @Field(() => Date, { description: "When the service received it; deadlines count from here." })
  receivedAt!: Instant;

  @Field(() => Date, { description: "When the answer is due: 30 calendar days after receipt (CORRECTION: 15 business days), plus extensions." })
  dueAt!: Instant;

  @Field(() => Int, { description: "Days the deadline was extended by, in total (at most 60)." })
  extendedDays!: number;

  @Field(() => String, { nullable: true, description: "Why the deadline was last extended; removed DSR_REQUEST_RECORD_RETENTION_DAYS after the request ended, with its subject (`subjectRemovedAt`)." })
  extensionReason!: string | null;

  @Field(() => String, { nullable: true, description: "Why the request was rejected, cancelled or failed; on a COMPLETED correction, what it did not correct (fields no system changed, systems that skipped the correction and may still hold the old values); a correction that changed no field in any system FAILS, saying so; a correction that FAILED after a write of it committed, or may have (its answer lost), names the systems that may hold the new values (\"Yet account-db may hold the new values already (email): ...\"). Removed DSR_REQUEST_RECORD_RETENTION_DAYS after the request ended, with its subject (`subjectRemovedAt`)." })
  statusReason!: string | null;

  @Field(() => Verification, { description: "Identity verification state." })
  verification!: Verification;

  @Field(() => ID, {
    nullable: true,
    description:
      "The earlier open request of the same type about the same person; this one follows it instead of fanning out again (an access or portability request never follows one received before a correction or deletion of the person ended). For a SERVICE token null unless that earlier request is one it submitted (it would tell that someone else asked about the same person).",
  })
  duplicateOf!: string | null;

  @Field({ description: "The subject is under 18: tasks run first; a deletion keeps only what a legal obligation requires." })
  concernsMinor!: boolean;

  @Field(() => Date, { nullable: true, description: "When the request reached a terminal status." })
  closedAt!: Instant | null;

  @Field(() => Date, { description: "When the request last changed." })
  updatedAt!: Instant;

  @Field(() => String, { nullable: true, description: "The caller's idempotency key (requestAccountDeletion); null for other requests." })
  idempotencyKey!: string | null;

  /** The moment `overdue` is judged at (set by the presenter; not part of the API). */
  asOf!: Date;

  /** What its fields show beside its row, read in the same snapshot as the row (not part of the API; see requestPartsFinder.ts). */
  parts?: RequestParts;

  // A getter, not a field resolver: read by graphql-js's default resolver, without a resolver call per row.
  @Field(() => Boolean, { description: "Past its due date and still open." })
  get overdue(): boolean {
    return isOverdue(this, this.asOf);
  }
}

/** Past its due date and still open, at `now`. */
export function isOverdue(request: { dueAt: Instant; status: RequestStatus }, now: Date): boolean {
  return isBefore(request.dueAt, now) && !TERMINAL_STATUSES.includes(request.status);
}
