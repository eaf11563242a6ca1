import { DataSource, EntityManager, In, MoreThan, Not } from "typeorm";
import { RequestStatus, RequestType } from "../domain/enums";
import { ErasureUnitRow, keptSubjectEmail, RequestRow } from "../entities";
import { conflict } from "../errors";
import { ConnectorError } from "../connectors/sdk";
import { lockSubject } from "./holdFence";
import type { AlsoGuard } from "./sql/leaseGuard";

/**
 * Corrections of one person that change the same field take effect in the order they were received.
 * Two at work at once raced in every system (each RECTIFY writes its own value) and the earlier could
 * land last: the later request COMPLETED while the systems held the value it replaced. So a correction
 * is approved only once every earlier verified one changing a field it changes has ended, and neither
 * approved nor retried once a later one changing such a field has been approved. Read under the
 * subject's lock (approval) or the request's (retry, after the approval that took the subject's lock
 * committed). A request that follows another (duplicateOf, the same values) writes them when its
 * original does, yet in the order received it stands where it was received: a correction received
 * between the two must not be jumped (approving the repeat while it is undecided), nor land last once
 * the repeat was approved. Only a request and its own original (or its followers) pass each other.
 *
 * An earlier correction still waiting for its code does not hold a later one back: anyone can ask in a
 * person's name, and one who cannot answer the code would otherwise stop her own corrections until the
 * privacy team cancelled theirs. If it is verified after all, the later one's approval has made it stale.
 */

/** Statuses of a correction that was approved (its tasks ran, or run): it may have written its values. */
const APPROVED: readonly RequestStatus[] = [RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT, RequestStatus.COMPLETED, RequestStatus.FAILED];
/** Statuses of a verified correction that has not ended (one waiting for its code holds nothing back). */
const VERIFIED_OPEN: readonly RequestStatus[] = [RequestStatus.PENDING_APPROVAL, RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT];

/** Received before: by receivedAt, and between two received in the same millisecond by id (arbitrary, but one order for every reader). */
const before = (a: RequestRow, b: RequestRow) => a.receivedAt < b.receivedAt || (a.receivedAt.getTime() === b.receivedAt.getTime() && a.id < b.id);

/** The person's other corrections in `statuses` received before (or after) `row` that change a field it changes, with those fields. */
async function sameFieldCorrections(em: EntityManager, row: RequestRow, statuses: readonly RequestStatus[], side: "earlier" | "later"): Promise<Array<{ request: RequestRow; fields: string[] }>> {
  if (row.type !== RequestType.CORRECTION) return [];
  const fields = new Set((row.corrections ?? []).map((c) => c.field));
  const others = await em.getRepository(RequestRow).find({
    where: { type: RequestType.CORRECTION, subjectEmail: keptSubjectEmail(row), status: In([...statuses]), id: Not(row.id) },
    order: { receivedAt: "ASC", id: "ASC" },
  });
  // A request's original and those that follow it write its own values: they never land over each other.
  const sameWork = (o: RequestRow) => o.id === row.duplicateOf || o.duplicateOf === row.id || (row.duplicateOf !== null && o.duplicateOf === row.duplicateOf);
  return others
    .filter((o) => !sameWork(o) && (side === "earlier" ? before(o, row) : before(row, o)))
    .map((o) => ({ request: o, fields: (o.corrections ?? []).map((c) => c.field).filter((f) => fields.has(f)) }))
    .filter((o) => o.fields.length > 0);
}

/** Statuses of a correction that ended after it was approved. */
const ENDED: readonly RequestStatus[] = [RequestStatus.COMPLETED, RequestStatus.FAILED];

/**
 * CONFLICT (changing nothing) when an earlier verified correction of a field `row` changes has not
 * ended, or has ended with a unit of its writes still under way at `now`, or a later one changing such a
 * field was approved (approving this one would write the older value over it). A unit outlives its
 * request when the attempt that began it lost its task (a process stalled past its lease) and a retry, or
 * the sweeper, ended the task: its write still lands within the unit's time (unitClock), so this one waits
 * for the unit to end or run out, or the older value could land last.
 */
export async function refuseApprovalOutOfOrder(em: EntityManager, row: RequestRow, now: Date): Promise<void> {
  await refuseCorrectionBesideDeletion(em, row);
  const [later] = await sameFieldCorrections(em, row, APPROVED, "later");
  if (later) {
    throw conflict(
      `Correction ${later.request.id}, received later for the same person, also changes ${later.fields.join(", ")} and was approved: approving this one would write the older value over it; reject it, and submit a new correction if this value is still wanted`,
      { status: row.status, laterRequestId: later.request.id, laterStatus: later.request.status },
    );
  }
  const [first] = await sameFieldCorrections(em, row, VERIFIED_OPEN, "earlier");
  if (first) {
    throw conflict(
      `Correction ${first.request.id}, received earlier for the same person, also changes ${first.fields.join(", ")} and is ${first.request.status}: corrections of a field take effect in the order they were received, so decide that one (approve, reject or cancel) and let it end before approving this one`,
      { status: row.status, earlierRequestId: first.request.id, earlierStatus: first.request.status },
    );
  }
  const ended = await sameFieldCorrections(em, row, ENDED, "earlier");
  if (!ended.length) return;
  const unit = await em.getRepository(ErasureUnitRow).findOne({ where: { requestId: In(ended.map((e) => e.request.id)), expiresAt: MoreThan(now) }, order: { expiresAt: "DESC" } });
  if (!unit) return;
  const writing = ended.find((e) => e.request.id === unit.requestId)!;
  throw conflict(
    `Correction ${writing.request.id}, received earlier for the same person, also changes ${writing.fields.join(", ")}: it ended, yet a write of it begun before is still under way in ${unit.connector} (an attempt that lost its task) until ${unit.expiresAt.toISOString()} at the latest: approve this one once it has ended, or the older value could land last`,
    { status: row.status, earlierRequestId: writing.request.id, earlierStatus: writing.request.status, writingUntil: unit.expiresAt.toISOString() },
  );
}

/**
 * A deletion of the same person at work (approved, not ended), or null. A correction does not run beside
 * one: what it writes is being erased, and one that moves a value the deletion finds the person by (the
 * address) takes the rest of their rows out of its reach, the deletion COMPLETED with them still held.
 */
export async function deletionAtWork(em: EntityManager, row: RequestRow): Promise<RequestRow | null> {
  if (row.type !== RequestType.CORRECTION) return null;
  return deletionsAtWork(em, row).orderBy("d.receivedAt", "ASC").addOrderBy("d.id", "ASC").getOne();
}

/** The deletions of `row`'s person at work (approved, not ended), as `d`. */
const deletionsAtWork = (em: EntityManager, row: RequestRow) =>
  em
    .getRepository(RequestRow)
    .createQueryBuilder("d")
    .where("d.type = :deletion AND d.subjectEmail = :email", { deletion: RequestType.DELETION, email: keptSubjectEmail(row) })
    .andWhere("d.status IN (:...atWork)", { atWork: [RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT] });

/**
 * What a unit of a correction's writes carries beside its lease guard (Claim.also): no deletion of the
 * person is at work, read in the unit's own insert under the subject's lock, which an approval holds
 * from before it reads to its commit (requestDecider.ts). So a unit begins either before a deletion's
 * approval took that lock (and its writes end before the ERASE begins: eraseWaitsFor) or
 * after the approval committed, when it sees the deletion and writes nothing. A check read before the
 * insert, apart from it, let a unit begin after an approval that committed in between.
 */
export function noDeletionAtWork(ds: DataSource, row: RequestRow, now: () => Date): AlsoGuard {
  const [sql, params] = deletionsAtWork(ds.manager, row).select("1").getQueryAndParameters();
  return {
    where: `NOT EXISTS (${sql})`,
    params,
    lock: (em) => lockSubject(em, keptSubjectEmail(row), now()),
    refused: async () => {
      const deletion = await deletionAtWork(ds.manager, row);
      if (deletion) throw new ConnectorError(correctionBesideDeletion(), `rectify refused: deletion ${deletion.id} of the subject is at work`, false);
    },
  };
}

/**
 * Why a correction is not made while a deletion of its person is at work (deletionAtWork). `deletion`
 * is named to those who decide requests only: a RECTIFY's error reaches the submitter, who may be a
 * SERVICE token that must not learn of another token's request (auth/requestAccess.ts).
 */
export const correctionBesideDeletion = (deletion?: Pick<RequestRow, "id">) =>
  `${deletion ? `Deletion ${deletion.id}` : "A deletion"} of the same person is at work: a correction is not made while their data is being erased (a corrected address would take the rest of it out of the deletion's reach); let the deletion end, then submit or retry the correction if its data is still held`;

/** CONFLICT (changing nothing) when a deletion of the person is at work (deletionAtWork). */
export async function refuseCorrectionBesideDeletion(em: EntityManager, row: RequestRow): Promise<void> {
  const deletion = await deletionAtWork(em, row);
  if (deletion) throw conflict(correctionBesideDeletion(deletion), { status: row.status, deletionRequestId: deletion.id, deletionStatus: deletion.status });
}

/** CONFLICT (changing nothing) when a later correction of a field `row` changes was approved: a retry would write the older value over it. */
export async function refuseRetryOutOfOrder(em: EntityManager, row: RequestRow): Promise<void> {
  await refuseCorrectionBesideDeletion(em, row);
  const [first] = await sameFieldCorrections(em, row, APPROVED, "later");
  if (!first) return;
  throw conflict(
    `Correction ${first.request.id}, received later for the same person, also changes ${first.fields.join(", ")} and was approved since: retrying this one would write the older value over it; submit a new correction if this value is still wanted`,
    { status: row.status, laterRequestId: first.request.id, laterStatus: first.request.status },
  );
}
