import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { Role } from "../domain/enums";
import { TimestampColumn } from "./columns";

/** A bearer token mapped to a role. The token itself is shown once at creation and never stored. */
@Entity({ name: "api_tokens" })
export class ApiTokenRow {
  /** UUID; what audit events name as the actor. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** Human label (who or what holds it). */
  @Column({ type: "varchar", length: 100 })
  name!: string;

  /** ADMIN | PRIVACY_OFFICER | AUDITOR | SERVICE. */
  @Column({ type: "varchar", length: 32 })
  role!: Role;

  /** SHA-256 of the token (tokens carry 256 random bits, so a fast hash is enough). */
  @Index("idx_api_tokens_hash", { unique: true })
  @Column({ type: "varchar", length: 64 })
  tokenHash!: string;

  /** First characters of the token, to recognise it in listings. */
  @Column({ type: "varchar", length: 12 })
  tokenPrefix!: string;

  /** When it was created. */
  @TimestampColumn()
  createdAt!: Date;

  /** When it was revoked; a revoked token authenticates nothing. */
  @TimestampColumn({ nullable: true })
  revokedAt!: Date | null;
}
