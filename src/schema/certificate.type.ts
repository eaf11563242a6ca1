import { ArgsType, Field, ID, Int, ObjectType } from "type-graphql";
import { IsUUID } from "class-validator";
import { ErasureConfirmation } from "../domain/tasks";
import { NotSearchedRecordSet } from "./request.type";
import { KeptByEarlier } from "./task.type";

@ObjectType({ description: "What one connector erased for a deletion." })
export class CertifiedErasure {
  @Field({ description: "Connector name." })
  connector!: string;

  @Field({ description: "The ERASE task's status: SUCCEEDED, or SKIPPED with the reason in note." })
  status!: string;

  @Field(() => Int, { description: "Records erased." })
  records!: number;

  @Field(() => Int, { description: "Records kept under retention (listed in kept)." })
  kept!: number;

  @Field(() => Int, { description: "Of records, those redacted in place (e.g. by a payment processor's redaction job)." })
  redacted!: number;

  @Field(() => Int, { description: "Records left holding personal data, not counted in records (listed in residual)." })
  residual!: number;

  @Field(() => String, { nullable: true, description: "Why it was skipped, when it was." })
  note!: string | null;

  @Field(() => ErasureConfirmation, {
    nullable: true,
    description:
      "How the counts are known: READ_BACK (read again after erasing), NOT_REACHED (read again, but without an identity an earlier deletion kept records under: see keptByEarlier), CONNECTOR_REPORT (the connector's word, nothing read back) or ATTESTED (a person's, see attestedBy); null when skipped, or ended before the service recorded it.",
  })
  confirmation!: ErasureConfirmation | null;

  @Field(() => String, { nullable: true, description: "ATTESTED: the actor who confirmed the count (`token:<id>`, `cli`)." })
  attestedBy!: string | null;

  @Field(() => KeptByEarlier, { nullable: true, description: "NOT_REACHED: records earlier deletions of the person keep in this system that this erasure could not look for; they stand (null otherwise)." })
  keptByEarlier!: KeptByEarlier | null;
}

@ObjectType({ description: "A record set a deletion kept, until when and why." })
export class CertifiedRetention {
  @Field({ description: "Connector name." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field({ description: "Record type within the system." })
  recordType!: string;

  @Field(() => Int, { description: "How many records are kept." })
  records!: number;

  @Field({ description: "The legal basis that keeps them." })
  legalBasis!: string;

  @Field(() => String, { nullable: true, description: "When they may be purged (ISO 8601); null while a legal hold keeps them." })
  retainUntil!: string | null;

  @Field(() => String, { nullable: true, description: "The legal hold that keeps them, when a hold does (null on a SERVICE token's certificate, whose legalBasis then says `kept for legal reasons`)." })
  holdId!: string | null;

  @Field(() => String, {
    nullable: true,
    description: "A legal hold placed while the retention rule's period runs: they are kept past retainUntil, until that hold is released (then holdId names it). Null when none.",
  })
  extendedByHoldId!: string | null;

  @Field({ description: "OPEN while kept, CLOSED once purged." })
  status!: string;
}

@ObjectType({ description: "Records a deletion left holding personal data: which, the fields that remain, why." })
export class CertifiedResidual {
  @Field({ description: "Connector name." })
  connector!: string;

  @Field({ description: "Data category." })
  category!: string;

  @Field({ description: "Record type within the system." })
  recordType!: string;

  @Field(() => Int, { description: "How many records." })
  records!: number;

  @Field(() => [String], { description: "The personal fields that remain (names only)." })
  fields!: string[];

  @Field({ description: "Why they remain." })
  reason!: string;
}

@ObjectType({ description: "The signed receipt of a completed deletion (Ed25519). No personal data: the subject appears as a keyed hash." })
export class DeletionCertificate {
  @Field(() => ID, { description: "The deletion request." })
  requestId!: string;

  @Field(() => ID, { nullable: true, description: "The earlier request whose work answered this one, when it followed a duplicate. For a SERVICE token, null unless that request is its own (as Request.duplicateOf)." })
  answeredWith!: string | null;

  @Field({ description: "`hmac-sha256:<hex>` of the subject's email under the service secret." })
  subjectReference!: string;

  @Field({ description: "When the request was received (ISO 8601)." })
  receivedAt!: string;

  @Field({ description: "When the deletion completed (ISO 8601)." })
  completedAt!: string;

  @Field({ description: "When this certificate was issued (ISO 8601)." })
  issuedAt!: string;

  @Field(() => [CertifiedErasure], { description: "What each connector erased." })
  erased!: CertifiedErasure[];

  @Field(() => [CertifiedRetention], { description: "What is kept, until when and why." })
  kept!: CertifiedRetention[];

  @Field(() => [CertifiedResidual], { description: "Records left holding personal data (never counted as erased), with the fields that remain and why; empty when none." })
  residual!: CertifiedResidual[];

  @Field(() => [NotSearchedRecordSet], { description: "Kinds of record a connector could not search for: the deletion cannot say it erased any of them. Empty when every kind was searched." })
  notSearched!: NotSearchedRecordSet[];

  @Field({ description: "Id of the signing key (`ed25519:` + 16 hex digits of its SHA-256); see certificatePublicKey." })
  keyId!: string;

  @Field({ description: "The signed certificate file: save it as is and check it with `dsr certificate verify <file> --public-key <pem>`." })
  signed!: string;
}

@ObjectType({ description: "The public key that verifies deletion certificates (also at /.well-known/dsr-certificate-key.pem)." })
export class CertificatePublicKey {
  @Field({ description: "Ed25519." })
  algorithm!: string;

  @Field({ description: "Key id, as named in certificates." })
  keyId!: string;

  @Field({ description: "The public key in PEM (SubjectPublicKeyInfo)." })
  pem!: string;
}

@ArgsType()
export class CertificateArgs {
  @Field(() => ID, { description: "The deletion request's id." })
  @IsUUID("all", { message: "requestId must be a request id (a UUID)" })
  requestId!: string;
}
