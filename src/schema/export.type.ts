import { IsInt, IsOptional, IsUUID, Max, Min } from "class-validator";
import { ArgsType, Field, Float, ID, Int, ObjectType } from "type-graphql";
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS, MIN_LINK_TTL_SECONDS } from "../export/links";

/**
 * The `ttl` argument of a mutation handing out a download link: optional, whole seconds within the
 * links' bounds. `limit` adds what else bounds it (", never past fileExpiresAt").
 */
export function LinkTtlArg(limit = ""): PropertyDecorator {
  const decorators = [
    Field(() => Int, { nullable: true, description: `How long the link works, in seconds: default ${DEFAULT_LINK_TTL_SECONDS} (24 hours), at most ${MAX_LINK_TTL_SECONDS} (7 days)${limit}.` }),
    IsOptional(),
    IsInt(),
    Min(MIN_LINK_TTL_SECONDS, { message: `ttl must be at least ${MIN_LINK_TTL_SECONDS} seconds` }),
    Max(MAX_LINK_TTL_SECONDS, { message: `ttl must be at most ${MAX_LINK_TTL_SECONDS} seconds (7 days)` }),
  ];
  return (target, property) => decorators.forEach((decorate) => decorate(target, property as string));
}

@ObjectType({ description: "The stored, encrypted portable export of an ACCESS or PORTABILITY request." })
export class Export {
  @Field(() => ID, { description: "Export id." })
  id!: string;

  @Field({ description: "Where it is kept: local or s3." })
  storage!: string;

  @Field(() => Int, { description: "Records in the archive." })
  records!: number;

  @Field(() => Int, { description: "Files in the archive (data files, README.txt, index.html, manifest.json)." })
  files!: number;

  @Field(() => Float, { description: "Size of the encrypted file, in bytes." })
  encryptedBytes!: number;

  @Field({ description: "sha256 (hex) of the encrypted file." })
  sha256!: string;

  @Field({ description: "When it was written." })
  createdAt!: Date;

  @Field({ description: "When its retention ends and it is deleted." })
  expiresAt!: Date;
}

@ObjectType({ description: "A signed download link: anyone holding it can download the decrypted ZIP until it expires." })
export class ExportLink {
  @Field({ description: "The URL (GET). Treat it like a password." })
  url!: string;

  @Field({ description: "When the link stops working." })
  expiresAt!: Date;

  @Field(() => Export, { description: "The export it downloads." })
  export!: Export;
}

@ArgsType()
export class CreateExportLinkArgs {
  @Field(() => ID, { description: "The request whose export to hand out." })
  @IsUUID("all", { message: "requestId must be a request id (a UUID)" })
  requestId!: string;

  @LinkTtlArg()
  ttl?: number | null;
}
