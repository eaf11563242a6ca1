import { ArrayMaxSize, IsInt, IsOptional, IsUUID, Length, Matches, Max, Min } from "class-validator";
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { IsFreeText } from "../domain/text";
import { BreachRosterStatus } from "../entities";
import { LinkTtlArg } from "./export.type";

registerEnumType(BreachRosterStatus, {
  name: "BreachRosterStatus",
  description: "Where a breach roster stands.",
  valuesConfig: {
    QUEUED: { description: "Waiting for a worker (or for its next attempt, after a retryable failure: see lastError)." },
    RUNNING: { description: "A worker is listing the systems." },
    COMPLETED: { description: "Drawn: the counts are final and its file can be downloaded until fileExpiresAt. Check `complete`." },
    FAILED: { description: "Not drawn (see lastError): it has no file." },
  },
});

@ObjectType({ description: "How one system's listing went in a breach roster. Counts only: the people are in the roster's file." })
export class RosterSystem {
  @Field({ description: "The connector." })
  connector!: string;

  @Field({ description: "BREACHED: named in the roster's request, its people are in the roster. CONTACTS: an identity source (it provides identity kinds) consulted only for the contact addresses of the breached systems' people." })
  role!: string;

  @Field({ description: "LISTED: every person it holds was listed. PARTIAL: the people it could reach were listed, and problem says whom it could not (the roster is not complete). NOT_LISTABLE: the connector cannot list the people it holds (a manual connector, or one without listSubjects): list them from the system itself. FAILED: its listing failed for good (see problem)." })
  outcome!: string;

  @Field(() => Int, { nullable: true, description: "BREACHED: the people it holds data about. CONTACTS: the roster's people it knows. Null unless LISTED or PARTIAL." })
  people!: number | null;

  @Field(() => Int, { nullable: true, description: "BREACHED: the records it holds about them, counted as an ACCESS would; null when the connector does not count them, or unless LISTED or PARTIAL." })
  records!: number | null;

  @Field(() => String, { nullable: true, description: "Why it was not listed, or whom a PARTIAL listing did not reach, in words for people." })
  problem!: string | null;
}

@ObjectType({
  description:
    "A breach roster: everyone the breached systems hold personal data about, each person once, with the contact addresses the service can find for them (POLICY: a breach is notified to the affected people within 72 hours). The people are in an encrypted CSV file (createBreachRosterLink); this object holds counts only.",
})
export class BreachRoster {
  @Field(() => ID, { description: "The roster's id." })
  id!: string;

  @Field(() => [String], { description: "The connectors whose data the breach touched, as asked." })
  connectors!: string[];

  @Field({ description: "Why it was drawn up. Kept for good with the counts (the record of the breach): name no one here." })
  reason!: string;

  @Field(() => String, { nullable: true, description: "The incident's reference." })
  caseReference!: string | null;

  @Field(() => BreachRosterStatus, { description: "QUEUED, RUNNING, COMPLETED or FAILED." })
  status!: BreachRosterStatus;

  @Field({ description: "Who asked for it (token id)." })
  requestedBy!: string;

  @Field({ description: "When it was asked for." })
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: "When it was drawn, or failed." })
  completedAt!: Date | null;

  @Field(() => Boolean, { nullable: true, description: "True when every breached system was LISTED: nobody they hold is missing. False: see systems for the ones that were not. Null until COMPLETED." })
  complete!: boolean | null;

  @Field(() => Int, { nullable: true, description: "People in the roster: everyone a breached system holds, each once (entries of any system that share an identity are one person)." })
  people!: number | null;

  @Field(() => Int, { nullable: true, description: "Of them, people for whom no system holds an email address: reach them another way (the file lists their other identities)." })
  withoutEmail!: number | null;

  @Field(() => [RosterSystem], { description: "Each breached system's listing, then each identity source consulted for contacts (empty until COMPLETED)." })
  systems!: RosterSystem[];

  @Field({ description: "Whether its file can be downloaded now (COMPLETED, and its retention has not ended)." })
  fileAvailable!: boolean;

  @Field(() => Date, { nullable: true, description: "When its file is removed (DSR_ROSTER_RETENTION_DAYS after it was drawn); null once removed, and for a roster without a file." })
  fileExpiresAt!: Date | null;

  @Field(() => Int, { description: "Listing attempts begun (a retryable failure, or a worker that stopped, starts it again; 3 at most)." })
  attempts!: number;

  @Field(() => String, { nullable: true, description: "Why the last attempt failed, in words for people." })
  lastError!: string | null;
}

@InputType({ description: "A breach roster to draw." })
export class StartBreachRosterInput {
  @Field(() => [String], { description: "The connectors whose data the breach touched (names from the connectors query), each once." })
  @ArrayMaxSize(50, { message: "at most 50 connectors" })
  @Matches(/^[a-z][a-z0-9-]{1,39}$/, { each: true, message: "connectors are connector names such as account-db" })
  connectors!: string[];

  @Field({ description: "What happened (3-500 characters). Kept with the roster's counts for good, as the record of the breach (GDPR Art. 33(5)): describe the incident, name no one." })
  @Length(3, 500, { message: "reason must be 3 to 500 characters" })
  @IsFreeText()
  reason!: string;

  @Field(() => String, { nullable: true, description: "The incident's reference (1-100 characters)." })
  @IsOptional()
  @Length(1, 100, { message: "caseReference must be 1 to 100 characters" })
  @IsFreeText()
  caseReference?: string | null;
}

@ArgsType()
export class BreachRosterArgs {
  @Field(() => ID, { description: "The roster's id." })
  @IsUUID("all", { message: "id must be a breach roster id (a UUID)" })
  id!: string;
}

@ArgsType()
export class CreateBreachRosterLinkArgs extends BreachRosterArgs {
  @LinkTtlArg(", never past fileExpiresAt")
  ttl?: number | null;
}

@ArgsType()
export class BreachRostersArgs {
  @Field(() => Int, { defaultValue: 20, description: "How many, newest first (1-100)." })
  @IsInt()
  @Min(1, { message: "first must be at least 1" })
  @Max(100, { message: "first must be at most 100" })
  first!: number;
}

@ObjectType({ description: "A signed link to a breach roster's CSV file." })
export class BreachRosterLink {
  @Field({ description: "The URL (GET). It downloads a list of people: treat it like a password." })
  url!: string;

  @Field({ description: "When the link stops working." })
  expiresAt!: Date;

  @Field(() => BreachRoster, { description: "The roster it downloads." })
  roster!: BreachRoster;
}
