import { hash, randomBytes, randomUUID } from "node:crypto";
import { DataSource, IsNull } from "typeorm";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import type { Clock } from "../clock";
import { inTransaction } from "../db/transaction";
import { Role } from "../domain/enums";
import { ApiTokenRow } from "../entities";
import { badField, notFound } from "../errors";
import { isIdentityText, TEXT_MESSAGES } from "../domain/text";

const TOKEN_PREFIX = "dsr_";

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match ? match[1] : null;
}

/** SHA-256 of a token, hex (crypto.hash: one call per operation, no Hash object). */
export function hashToken(token: string): string {
  return hash("sha256", token, "hex");
}

/** A fresh token: `dsr_` + 256 random bits, base64url. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export interface CreatedToken {
  row: ApiTokenRow;
  /** The only time the token exists in clear. */
  token: string;
}

export async function createToken(
  ds: DataSource,
  clock: Clock,
  actor: Actor,
  input: { name: string; role: Role; token?: string },
): Promise<CreatedToken> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) throw badField("name", "name must be 1 to 100 characters");
  // A name is a label on one line of `dsr token list`: a line break in it would print a row of its own.
  if (!isIdentityText(name)) throw badField("name", TEXT_MESSAGES.identity("name"));
  if (!Object.values(Role).includes(input.role)) throw badField("role", `role must be one of ${Object.values(Role).join(", ")}`);
  const token = input.token ?? generateToken();
  const row = ds.getRepository(ApiTokenRow).create({
    id: randomUUID(),
    name,
    role: input.role,
    tokenHash: hashToken(token),
    tokenPrefix: token.slice(0, 12),
    createdAt: clock.now(),
    revokedAt: null,
  });
  await inTransaction(ds, async (em) => {
    await em.getRepository(ApiTokenRow).insert(row);
    await appendAuditEvent(em, { requestId: null, actor, action: "token.created", details: { tokenId: row.id, role: row.role } }, clock.now());
  });
  return { row, token };
}

export async function revokeToken(ds: DataSource, clock: Clock, actor: Actor, id: string): Promise<ApiTokenRow> {
  return inTransaction(ds, async (em) => {
    const tokens = em.getRepository(ApiTokenRow);
    const row = await tokens.findOneBy({ id });
    if (!row) throw notFound("Token", id);
    if (row.revokedAt) return row;
    row.revokedAt = clock.now();
    // Guarded: of two revocations at once, one revokes (and is audited); the other answers with the stored row.
    const { affected } = await tokens.update({ id, revokedAt: IsNull() }, { revokedAt: row.revokedAt });
    if (affected !== 1) return tokens.findOneByOrFail({ id });
    await appendAuditEvent(em, { requestId: null, actor, action: "token.revoked", details: { tokenId: id, role: row.role } }, clock.now());
    return row;
  });
}

export async function listTokens(ds: DataSource): Promise<ApiTokenRow[]> {
  return ds.getRepository(ApiTokenRow).find({ order: { createdAt: "ASC" } });
}

/** What an operation needs to know about its caller's token. */
export type TokenIdentity = Pick<ApiTokenRow, "id" | "name" | "role">;

/**
 * The live (not revoked) token for a presented bearer token, or null. Runs on every operation, so it is
 * one indexed lookup in plain SQL (TypeORM's builder cost several times the lookup itself), and there is
 * no cache on purpose: a revocation, by this process or any other (`dsr token revoke`), refuses the very
 * next operation.
 */
export async function authenticateToken(ds: DataSource, token: string): Promise<TokenIdentity | null> {
  if (token.length < 16 || token.length > 256) return null;
  const q = (name: string) => ds.driver.escape(name);
  const rows: TokenIdentity[] = await ds.query(
    `SELECT ${q("id")}, ${q("name")}, ${q("role")} FROM ${q("api_tokens")} WHERE ${q("tokenHash")} = ? AND ${q("revokedAt")} IS NULL`,
    [hashToken(token)],
  );
  return rows[0] ?? null;
}

/** Seeds DSR_BOOTSTRAP_ADMIN_TOKEN as an ADMIN token once; later starts find it and do nothing. */
export async function ensureBootstrapToken(ds: DataSource, clock: Clock, actor: Actor, token: string | undefined): Promise<boolean> {
  if (!token) return false;
  const existing = await ds.getRepository(ApiTokenRow).findOneBy({ tokenHash: hashToken(token) });
  if (existing) return false;
  try {
    await createToken(ds, clock, actor, { name: "bootstrap admin", role: Role.ADMIN, token });
    return true;
  } catch (error) {
    // Another process seeded it at the same moment: the unique hash index kept it to one row.
    if (await ds.getRepository(ApiTokenRow).findOneBy({ tokenHash: hashToken(token) })) return false;
    throw error;
  }
}
