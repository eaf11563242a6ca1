import { ArgsType, Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { ArrayMaxSize, IsOptional, IsUUID, Length, Matches, MaxLength } from "class-validator";
import { LegalHoldStatus } from "../entities";
import { IsFreeText, IsIdentityText } from "../domain/text";
import { IsEmailAddress } from "../domain/identities";

registerEnumType(LegalHoldStatus, {
  name: "LegalHoldStatus",
  description: "Whether a hold still blocks erasure.",
  valuesConfig: {
    ACTIVE: { description: "Erasure of the held categories waits." },
    RELEASED: { description: "Released; what it kept is purged at the next purge run unless a retention rule still keeps it." },
  },
});

@ObjectType({ description: "A legal hold on a subject: erasure of the held categories waits until it is released." })
export class LegalHold {
  @Field(() => ID, { description: "The hold's id." })
  id!: string;

  @Field(() => String, {
    nullable: true,
    description:
      "The subject's email in matching form (trimmed, NFC, lower case, an internationalised domain in Unicode): it applies to requests for any spelling of the address, `ada@xn--bcher-kva.de` and `Ada@Bücher.de` alike. Null once removed (see `subjectRemovedAt`).",
  })
  subjectEmail!: string | null;

  @Field(() => [String], { description: "Held categories; empty: every category." })
  categories!: string[];

  @Field({ description: "Why the data must be kept. Empty once the subject's email is removed from the released hold (`subjectRemovedAt`): free text may name the person." })
  reason!: string;

  @Field({ description: "The case, matter or authority request it belongs to. Kept for good, in the audit trail too (legal_hold.placed): a reference, never a name." })
  caseReference!: string;

  @Field(() => LegalHoldStatus, { description: "ACTIVE or RELEASED." })
  status!: LegalHoldStatus;

  @Field({ description: "Who placed it (token id)." })
  placedBy!: string;

  @Field(() => Date, { description: "When it was placed." })
  placedAt!: Date;

  @Field(() => Date, { nullable: true, description: "When it was released." })
  releasedAt!: Date | null;

  @Field(() => String, { nullable: true, description: "Why it was released. Null once the subject's email is removed (`subjectRemovedAt`)." })
  releaseReason!: string | null;

  @Field(() => Date, {
    nullable: true,
    description:
      "When the subject's email was removed from this released hold, DSR_REQUEST_RECORD_RETENTION_DAYS after its release (`subjectEmail` is null from then on; the rest of the hold stays); null while it is kept.",
  })
  subjectRemovedAt!: Date | null;
}

@InputType({ description: "A hold to place." })
export class PlaceLegalHoldInput {
  @Field({ description: "The subject's email address, in any case: it is stored and matched in normalized form." })
  @MaxLength(254, { message: "subjectEmail must be at most 254 characters" })
  @IsEmailAddress("subjectEmail must be an email address such as ada@example.com")
  @IsIdentityText()
  subjectEmail!: string;

  @Field(() => [String], { nullable: true, description: "Categories to hold (e.g. PAYMENTS, SUPPORT); absent or empty: every category." })
  @IsOptional()
  @ArrayMaxSize(20, { message: "at most 20 categories" })
  @Matches(/^[A-Z][A-Z0-9_]{1,39}$/, { each: true, message: "categories are upper-case names such as PAYMENTS" })
  categories?: string[] | null;

  @Field({ description: "Why the data must be kept (3-500 characters); kept with the hold until its subject's email is removed (DSR_REQUEST_RECORD_RETENTION_DAYS after its release)." })
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason!: string;

  @Field({ description: "The case or matter reference (1-100 characters). Kept for good, in the audit trail too: a reference, never a name." })
  @Length(1, 100, { message: "caseReference must be 1 to 100 characters" })
  @IsFreeText()
  caseReference!: string;
}

@ArgsType()
export class ReleaseLegalHoldArgs {
  @Field(() => ID, { description: "The hold's id." })
  @IsUUID("all", { message: "id must be a legal hold id (a UUID)" })
  id!: string;

  @Field({ description: "Why it is released (3-500 characters); kept with the hold until its subject's email is removed, not in the audit trail." })
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason!: string;
}

@ArgsType()
export class LegalHoldsArgs {
  @Field(() => String, { nullable: true, description: "Only this subject's holds (compared in matching form: case-insensitive, NFC, either spelling of an internationalised domain)." })
  @IsOptional()
  @MaxLength(254, { message: "subjectEmail must be at most 254 characters" })
  @IsIdentityText()
  subjectEmail?: string | null;

  @Field(() => LegalHoldStatus, { nullable: true, description: "Only holds with this status." })
  @IsOptional()
  status?: LegalHoldStatus | null;
}
