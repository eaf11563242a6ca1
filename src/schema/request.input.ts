import { Type } from "class-transformer";
import {
  ArrayMaxSize,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
} from "class-validator";
import { ArgsType, Field, ID, InputType, Int } from "type-graphql";
import { MAX_EXTENSION_DAYS } from "../domain/deadlines";
import { RequestStatus, RequestType } from "../domain/enums";
import { IsEmailAddress, PHONE_EXAMPLE, PHONE_RULE, phoneProblem } from "../domain/identities";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../queries/requestFinder";
import "./enums";
import { IsFreeText, IsIdentityText } from "../domain/text";

const EMAIL_MESSAGE = "email must be a valid email address";

@InputType({ description: "An identifier of the subject in another system. External ids live in their own namespace (connectors need them as `external:<system>`): a system named `email` is still only that system's id, never the subject's email." })
export class ExternalIdInput {
  @Field({ description: "The system: lower-case letters, digits, `_` or `-`, at most 32 characters (e.g. `stripe`)." })
  @Matches(/^[a-z][a-z0-9_-]{0,31}$/, { message: "system must be lower-case letters, digits, _ or -, starting with a letter, at most 32 characters" })
  @IsIdentityText()
  system!: string;

  @Field({ description: "The subject's id in that system (1-256 characters, not only spaces). Taken and compared exactly as typed, never trimmed or recomposed: systems hold `cus_1 ` and `cus_1` as two keys." })
  @Length(1, 256, { message: "id must be 1 to 256 characters" })
  @IsIdentityText()
  id!: string;
}

@InputType({ description: "Who a request is about. Email is required; the rest helps connectors find the person." })
export class SubjectInput {
  @Field({ description: "The subject's email address (at most 254 characters; letters of any script). Spaces around it are dropped; matched case-insensitively everywhere; shown as typed." })
  @MaxLength(254, { message: "email must be at most 254 characters" })
  @IsEmailAddress(EMAIL_MESSAGE)
  @IsIdentityText()
  email!: string;

  @Field(() => String, { nullable: true, description: "User id in the platform (1-128 characters: ASCII letters, digits and `._:@-`, with plain spaces before or after them if the id holds them). Taken and compared exactly as typed, never trimmed: systems hold `usr_a ` and `usr_a` as two users, so a space typed around an id names another user (or none). Without identityVerified, submitRequest takes it only where a connector confirms it as the email's (one provides userId) or none reads by it: the emailed code proves the email alone (BAD_USER_INPUT otherwise, also at approval)." })
  @IsOptional()
  @Length(1, 128, { message: "userId must be 1 to 128 characters" })
  @Matches(/^ *[\w.:@-]+ *$/, { message: "userId may hold ASCII letters, digits and . _ : @ - only (with plain spaces before or after them, kept: user ids are compared exactly)" })
  @IsIdentityText()
  userId?: string | null;

  @Field(() => String, { nullable: true, description: `Phone number with its country code, in any common spelling, e.g. \`${PHONE_EXAMPLE}\` or \`+442079460958\`; stored in E.164. Without identityVerified, submitRequest takes it only where a connector confirms it as the email's (one provides phone) or none reads by it (BAD_USER_INPUT otherwise, also at approval).` })
  @IsOptional()
  @MaxLength(40, { message: "phone must be at most 40 characters" })
  @ValidateBy({ name: "isPhone", validator: { validate: (v: unknown) => typeof v === "string" && phoneProblem(v) === null, defaultMessage: (args) => `phone ${phoneProblem(String(args?.value)) ?? `must be ${PHONE_RULE}`}` } })
  @IsIdentityText()
  phone?: string | null;

  @Field(() => [ExternalIdInput], { nullable: true, description: "Ids of the subject in other systems (at most 20, each system once). Nothing confirms such an id, and the emailed code proves the email alone: submitRequest takes them only with identityVerified: true (the caller checked them), and answers BAD_USER_INPUT otherwise." })
  @IsOptional()
  @ArrayMaxSize(20, { message: "at most 20 external ids" })
  @ValidateNested({ each: true })
  @Type(() => ExternalIdInput)
  externalIds?: ExternalIdInput[] | null;
}

@InputType({ description: "One change a CORRECTION request asks for." })
export class FieldChangeInput {
  @Field({ description: "The field to correct: a letter, then letters, digits, `_` or `.` (at most 64), e.g. `name`. Matched exactly, as the connectors name it: another spelling of a field a connector corrects (`Email` for `email`), or two fields that differ only in letter case or `_`, is BAD_USER_INPUT on `corrections`, naming the connector's spelling." })
  @Matches(/^[A-Za-z][A-Za-z0-9_.]{0,63}$/, { message: "field must start with a letter and hold letters, digits, _ or . (at most 64 characters)" })
  field!: string;

  @Field({ description: "The corrected value (at most 1000 characters)." })
  @IsString()
  @MaxLength(1000, { message: "value must be at most 1000 characters" })
  @IsFreeText()
  value!: string;
}

@InputType({ description: "A new data-subject request." })
export class SubmitRequestInput {
  @Field(() => RequestType, { description: "The right exercised." })
  type!: RequestType;

  @Field(() => SubjectInput, { description: "Who the request is about." })
  @ValidateNested()
  @Type(() => SubjectInput)
  subject!: SubjectInput;

  @Field(() => [FieldChangeInput], {
    nullable: true,
    description:
      "For CORRECTION (required there, refused elsewhere): the changes asked for, at most 50. A change of an identity is taken only with identityVerified: true (a caller who checked the new value is the subject's): of `email`, and of any field a connector writes into a value people are found by (its `identityFields`, e.g. a SQL connector's rectifiable column that a table is found by or an identity is provided from, whatever the field is called) or named as an identity kind a connector needs or provides (`phone`, `userId`, in any letter case, `_` or `-` aside). The emailed code proves the address submitted under alone, and every later request of the person reaches whoever holds the corrected value; without it, BAD_USER_INPUT on `corrections` with `extensions.reason` IDENTITY_CORRECTION_UNVOUCHED (checked again at approval).",
  })
  @IsOptional()
  @ArrayMaxSize(50, { message: "at most 50 corrections per request" })
  @ValidateNested({ each: true })
  @Type(() => FieldChangeInput)
  corrections?: FieldChangeInput[] | null;

  @Field(() => Boolean, {
    nullable: true,
    description:
      "True when the caller has already verified the subject's identity (for example an authenticated settings session): the request skips the emailed code and waits for approval. Requires verificationEvidence.",
  })
  @IsOptional()
  identityVerified?: boolean | null;

  @Field(() => Boolean, {
    nullable: true,
    description:
      "True when the subject is under 18: the request's tasks run before others, and a DELETION keeps only what a legal obligation requires (legitimate-interest retention does not apply).",
  })
  @IsOptional()
  concernsMinor?: boolean | null;

  @Field(() => String, { nullable: true, description: "How the identity was verified (3-500 characters; better without personal data), e.g. `authenticated settings session`. Kept with the request until its record's personal data is removed (DSR_REQUEST_RECORD_RETENTION_DAYS after it ended), never in the audit trail." })
  @IsOptional()
  @Length(3, 500, { message: "verificationEvidence must be 3 to 500 characters" })
  @IsFreeText()
  verificationEvidence?: string | null;
}

@InputType({ description: "Narrows a list of requests. All given conditions must hold." })
export class RequestFilterInput {
  @Field(() => [RequestStatus], { nullable: true, description: "Any of these statuses." })
  @IsOptional()
  @ArrayMaxSize(8)
  status?: RequestStatus[] | null;

  @Field(() => [RequestType], { nullable: true, description: "Any of these types." })
  @IsOptional()
  @ArrayMaxSize(4)
  type?: RequestType[] | null;

  @Field(() => Boolean, { nullable: true, description: "true: past due and still open; false: all others." })
  @IsOptional()
  overdue?: boolean | null;

  @Field(() => String, { nullable: true, description: "Exactly this subject email, compared in matching form (case-insensitive, NFC, either spelling of an internationalised domain)." })
  @IsOptional()
  @MaxLength(254, { message: "subjectEmail must be at most 254 characters" })
  @IsEmailAddress("subjectEmail must be a valid email address")
  @IsIdentityText()
  subjectEmail?: string | null;
}

@ArgsType()
export class RequestsArgs {
  @Field(() => Int, { defaultValue: DEFAULT_PAGE_SIZE, description: `How many requests to return (1-${MAX_PAGE_SIZE}).` })
  @Min(1, { message: "first must be at least 1" })
  @Max(MAX_PAGE_SIZE, { message: `first must be at most ${MAX_PAGE_SIZE}` })
  first!: number;

  @Field(() => String, { nullable: true, description: "Return requests after this cursor (a previous page's endCursor)." })
  @IsOptional()
  @MaxLength(200, { message: "after must be a cursor returned by a previous page" })
  @IsIdentityText()
  after?: string | null;

  @Field(() => RequestFilterInput, { nullable: true, description: "Conditions the requests must meet." })
  @IsOptional()
  @ValidateNested()
  @Type(() => RequestFilterInput)
  filter?: RequestFilterInput | null;
}

@ArgsType()
export class RequestIdArgs {
  @Field(() => ID, { description: "The request's id." })
  @IsUUID("all", { message: "id must be a request id (a UUID)" })
  id!: string;
}

@ArgsType()
export class VerifyRequestArgs extends RequestIdArgs {
  @Field({ description: "The 6-digit code the subject received." })
  @Matches(/^\s*\d{6}\s*$/, { message: "code must be the 6 digits the subject received" })
  code!: string;
}

@ArgsType()
export class RejectRequestArgs extends RequestIdArgs {
  @Field({ description: "Why the request is refused (3-500 characters); kept with the request (statusReason) until its record's personal data is removed. The audit trail records that a reason was given, not its words." })
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason!: string;
}

@ArgsType()
export class CancelRequestArgs extends RequestIdArgs {
  @Field(() => String, { nullable: true, description: "Why it is withdrawn (3-500 characters); kept with the request (statusReason) until its record's personal data is removed, not in the audit trail." })
  @IsOptional()
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason?: string | null;
}

@ArgsType()
export class ExtendDeadlineArgs extends RequestIdArgs {
  @Field(() => Int, { description: `Days to add to the due date (1-${MAX_EXTENSION_DAYS}; at most ${MAX_EXTENSION_DAYS} in total per request).` })
  @Min(1, { message: "days must be at least 1" })
  @Max(MAX_EXTENSION_DAYS, { message: `days must be at most ${MAX_EXTENSION_DAYS}` })
  days!: number;

  @Field({ description: "Why more time is needed (3-500 characters); the subject must be told. Kept with the request (extensionReason) until its record's personal data is removed, not in the audit trail." })
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason!: string;
}
