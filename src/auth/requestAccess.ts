import { In, type EntityManager } from "typeorm";
import type { Caller } from "../graphql/context";
import type { Services } from "../services";
import { notFound } from "../errors";
import { RequestRow } from "../entities";
import { findRequest } from "../queries/requestFinder";
import { OWN_REQUESTS_ONLY, PERSON_SEARCHERS } from "./roles";

/** Whether the caller reaches only the requests its own token submitted. */
export function seesOwnRequestsOnly(caller: Caller): boolean {
  return OWN_REQUESTS_ONLY.includes(caller.role);
}

/**
 * The request `id` names, as far as the caller may know of it: for an OWN_REQUESTS_ONLY token another
 * token's request is NOT_FOUND with the very message of an id that does not exist. `id` is passed as the
 * caller wrote it, since that message repeats it. Read on `db` when given (a read snapshot's).
 */
export async function requestVisibleTo(services: Services, caller: Caller, id: string, db: EntityManager | Services["ds"] = services.ds): Promise<RequestRow> {
  const row = await findRequest(db, id);
  if (seesOwnRequestsOnly(caller) && row.submittedBy !== caller.tokenId) throw notFound("Request", id);
  return row;
}

/** Refuses the operation before it does anything when the caller may not act on request `id` (see requestVisibleTo). */
export async function assertRequestVisible(services: Services, caller: Caller, id: string): Promise<void> {
  if (seesOwnRequestsOnly(caller)) await requestVisibleTo(services, caller, id);
}

/**
 * The request as the caller may see it: for an OWN_REQUESTS_ONLY token, `duplicateOf` stays only when the
 * earlier request is its own (otherwise it would tell that someone else asked about the same person).
 * Lists never reach such a token, so this costs one lookup on single requests at most.
 */
export async function withoutOthersRequests(services: Services, caller: Caller, row: RequestRow): Promise<RequestRow> {
  if (!row.duplicateOf || !seesOwnRequestsOnly(caller)) return row;
  const original = await services.ds.getRepository(RequestRow).findOne({ select: { id: true, submittedBy: true }, where: { id: row.duplicateOf } });
  return original?.submittedBy === caller.tokenId ? row : Object.assign(new RequestRow(), row, { duplicateOf: null });
}

/**
 * Of request ids an answer would name beside the caller's own request (the one a certificate was
 * answered with, the earlier deletions that keep records where an erasure could not look): those the
 * caller may be told of. All of them for most roles; for an OWN_REQUESTS_ONLY token only the requests
 * it submitted, as with `duplicateOf` (withoutOthersRequests): another token's request id would tell it
 * that someone else asked about the same person.
 */
export async function requestIdsVisibleTo(services: Services, caller: Caller, ids: readonly string[]): Promise<ReadonlySet<string>> {
  if (!seesOwnRequestsOnly(caller) || ids.length === 0) return new Set(ids);
  const rows = await services.ds.getRepository(RequestRow).find({ select: { id: true, submittedBy: true }, where: { id: In([...new Set(ids)]) } });
  return new Set(rows.filter((r) => r.submittedBy === caller.tokenId).map((r) => r.id));
}

/** Whether the caller may look requests up by a person (PERSON_SEARCHERS). */
export function maySearchByPerson(caller: Caller): boolean {
  return PERSON_SEARCHERS.includes(caller.role);
}
