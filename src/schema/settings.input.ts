import { Type } from "class-transformer";
import { IsBoolean, IsOptional, Length, Matches, ValidateNested } from "class-validator";
import { Field, InputType } from "type-graphql";
import { SubjectInput } from "./request.input";
import { IsFreeText } from "../domain/text";

@InputType({ description: "The settings page's account deletion: who, and the key that makes retries safe." })
export class RequestAccountDeletionInput {
  @Field({
    description:
      "Your key for this deletion (8-100 characters: letters, digits, `_`, `-`, `.`, `:`). Sending it again, even concurrently, returns the same request; a key already used for another subject is CONFLICT.",
  })
  @Matches(/^[A-Za-z0-9_.:-]{8,100}$/, { message: "idempotencyKey must be 8 to 100 letters, digits, _ - . or :" })
  idempotencyKey!: string;

  @Field(() => SubjectInput, { description: "The account holder (email required), as known to the authenticated session." })
  @ValidateNested()
  @Type(() => SubjectInput)
  subject!: SubjectInput;

  @Field(() => Boolean, {
    nullable: true,
    description:
      "True when the account holder is under 18 (POLICY.md: their data is deleted immediately once known, and the account terminated): the deletion's tasks run before others and it keeps only what a legal obligation requires. A key first used without it is CONFLICT with it (its deletion kept what this one erases): send a new key.",
  })
  @IsOptional()
  @IsBoolean()
  concernsMinor?: boolean | null;

  @Field(() => String, {
    nullable: true,
    description: "What the session proved (3-500 characters, no personal data), e.g. `password re-entered and MFA passed`; default `authenticated account settings session`.",
  })
  @IsOptional()
  @Length(3, 500, { message: "verificationEvidence must be 3 to 500 characters" })
  @IsFreeText()
  verificationEvidence?: string | null;
}
