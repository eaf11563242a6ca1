import { EntityManager, In, ObjectLiteral } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { subjectReference } from "../commands/certificateIssuer";
import { inTransaction } from "../db/transaction";
import { TERMINAL_STATUSES } from "../domain/enums";
import { ErasureUnitRow, LegalHoldRow, LegalHoldStatus, RequestIdentityRow, RequestRow, RetentionExceptionStatus } from "../entities";
import { breathe } from "../eventLoop";
import { REPORTS_RESIDUE } from "../queries/deletionOutcomeFinder";
import type { Services } from "../services";

/** Records cleared per transaction: each batch commits (with its audit event) alone, and locks only its own rows. */
export const RECORD_PURGE_BATCH = 100;

const DAY_MS = 24 * 60 * 60_000;

/** The instant before which a request must have ended (or a hold been released) for its record to lose the subject: DSR_REQUEST_RECORD_RETENTION_DAYS before `now`. */
export function recordCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * A request record past its retention, as SQL over the request's columns (`col`) and its id (`id`): ended
 * (any terminal state) by `:cutoff`, still holding its subject, no retention exception of it OPEN (the
 * purge of its kept records erases through its identities, and finds the holds on its subject by its
 * email), and no residual records reported (records a system still holds that erasure could not erase,
 * such as a dispute's evidence: the system may no longer lead to the person, and this record is the only
 * one of whose they are, which breach rosters and the person's later requests name). The batch's read
 * and each row's update both test it, so a record kept meanwhile is left alone.
 */
const requestPastRetention = (col: (name: string) => string, id: string) => `${col("subjectRemovedAt")} IS NULL AND ${col("status")} IN (:...ended) AND ${col("closedAt")} <= :cutoff
  AND NOT EXISTS (SELECT 1 FROM retention_exceptions e WHERE e.requestId = ${id} AND e.status = :open)
  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.requestId = ${id} AND ${REPORTS_RESIDUE})`;

/** A released hold past its retention, over its columns (`col`). */
const holdPastRetention = (col: (name: string) => string) => `${col("subjectRemovedAt")} IS NULL AND ${col("status")} = :released AND ${col("releasedAt")} <= :cutoff`;

const aliased = (alias: string) => (name: string) => `${alias}.${name}`;
const bare = (name: string) => name;

/** One kind of record the purge clears: how a batch of it is found, cleared, and named in the audit trail. */
interface RecordKind {
  /** The audit event's action; its details name the ids cleared, never what was removed. */
  action: string;
  /** Up to `limit` ids of records past their retention at `cutoff`, oldest first. */
  due(em: EntityManager, cutoff: Date, limit: number): Promise<string[]>;
  /** Clears the personal data of those of `ids` still past their retention (one statement each, re-checking it); returns the ids it cleared. */
  clear(em: EntityManager, ids: string[], cutoff: Date, now: Date, secret: string): Promise<string[]>;
}

/** Up to `limit` ids of `entity` (aliased `alias`) matching `condition`, the longest ended (`endedColumn`) first. */
async function oldestDue(em: EntityManager, entity: typeof RequestRow | typeof LegalHoldRow, alias: string, endedColumn: string, condition: string, params: ObjectLiteral, limit: number): Promise<string[]> {
  const rows = await em
    .getRepository(entity)
    .createQueryBuilder(alias)
    .select(`${alias}.id`, "id")
    .where(condition, params)
    .orderBy(`${alias}.${endedColumn}`, "ASC")
    .addOrderBy(`${alias}.id`, "ASC")
    .limit(limit)
    .getRawMany<{ id: string }>();
  return rows.map((r) => r.id);
}

const requestRecords: RecordKind = {
  action: "request_records.cleared",
  due: (em, cutoff, limit) =>
    oldestDue(em, RequestRow, "r", "closedAt", requestPastRetention(aliased("r"), "r.id"), { ended: [...TERMINAL_STATUSES], cutoff, open: RetentionExceptionStatus.OPEN }, limit),
  async clear(em, ids, cutoff, now, secret) {
    const emails = new Map((await em.getRepository(RequestRow).find({ where: { id: In(ids) }, select: { id: true, subjectEmail: true } })).map((r) => [r.id, r.subjectEmail]));
    const cleared: string[] = [];
    // In the batch's order (oldest first, then id): two workers clearing one batch lock its rows in one order, never crosswise.
    for (const id of ids) {
      const subjectEmail = emails.get(id) ?? null;
      // One statement per row: each keeps the certificate's keyed hash of its own address.
      const { affected } = await em
        .createQueryBuilder()
        .update(RequestRow)
        .set({
          subjectEmail: null,
          subjectEmailAsTyped: null,
          subjectUserId: null,
          subjectPhone: null,
          subjectExternalIds: null,
          corrections: null,
          // What people typed about the request (how they checked who asked, why they refused, cancelled or
          // took longer) may name the person as well as any identity does: it goes with them.
          verificationEvidence: null,
          statusReason: null,
          extensionReason: null,
          verificationCodeHash: null,
          subjectReference: subjectEmail === null ? null : subjectReference(secret, subjectEmail),
          subjectRemovedAt: now,
        })
        .where("id = :id", { id })
        .andWhere(requestPastRetention(bare, ":id"), { ended: [...TERMINAL_STATUSES], cutoff, open: RetentionExceptionStatus.OPEN })
        .execute();
      if (affected) cleared.push(id);
    }
    if (cleared.length) {
      // What its tasks worked from normally went at the grace (purgeRequestIdentities); none outlives the record's own.
      await em.getRepository(RequestIdentityRow).delete({ requestId: In(cleared) });
      // A failed unit of erasure keeps its note (and the subject's fence key, a hash of the address) for a
      // retry that can no longer come.
      await em.getRepository(ErasureUnitRow).delete({ requestId: In(cleared) });
    }
    return cleared;
  },
};

const releasedHolds: RecordKind = {
  action: "legal_holds.cleared",
  due: (em, cutoff, limit) => oldestDue(em, LegalHoldRow, "h", "releasedAt", holdPastRetention(aliased("h")), { released: LegalHoldStatus.RELEASED, cutoff }, limit),
  async clear(em, ids, cutoff, now) {
    const cleared: string[] = [];
    for (const id of ids) {
      const { affected } = await em
        .createQueryBuilder()
        .update(LegalHoldRow)
        // Its reasons too (free text, which may name the person); its case reference stays, as the trail's
        // link to the matter (legal_hold.placed names it).
        .set({ subjectEmail: null, reason: "", releaseReason: null, subjectRemovedAt: now })
        .where("id = :id", { id })
        .andWhere(holdPastRetention(bare), { released: LegalHoldStatus.RELEASED, cutoff })
        .execute();
      if (affected) cleared.push(id);
    }
    return cleared;
  },
};

/**
 * Clears the records of one kind past their retention, `batch` at a time, each batch in a transaction
 * of its own with one audit event (installation stream) naming the ids it cleared and how many. Stops
 * when a batch finds fewer than `batch` due. Returns how many records it cleared.
 */
async function clearPastRetention(services: Pick<Services, "ds" | "clock" | "config" | "secret">, kind: RecordKind, batch: number): Promise<number> {
  const { ds, clock, config } = services;
  let total = 0;
  for (;;) {
    const now = clock.now();
    const cutoff = recordCutoff(now, config.DSR_REQUEST_RECORD_RETENTION_DAYS);
    const { found, cleared } = await inTransaction(ds, async (em) => {
      const ids = await kind.due(em, cutoff, batch);
      const done = ids.length ? await kind.clear(em, ids, cutoff, now, services.secret) : [];
      if (done.length) {
        await appendAuditEvent(
          em,
          { requestId: null, actor: SYSTEM_ACTOR, action: kind.action, details: { count: done.length, ids: done, endedBefore: cutoff.toISOString(), retentionDays: config.DSR_REQUEST_RECORD_RETENTION_DAYS } },
          now,
        );
      }
      return { found: ids.length, cleared: done.length };
    });
    total += cleared;
    // Fewer due than a batch: done. None of a full batch cleared: another worker is clearing them; it finishes.
    if (found < batch || cleared === 0) return total;
    await breathe();
  }
}

/**
 * Removes the personal data that records of requests and released legal holds keep once their purpose
 * ended (Invariant 7): DSR_REQUEST_RECORD_RETENTION_DAYS after a request ended in any state (and after
 * the last retention exception it kept closed), its subject's identities, a correction's values and any
 * identities its tasks still hold; that long after a hold's release, its subject's email. What was done
 * (type, status, dates, tasks, counts, the certificate's keyed hash, the audit trail) stays; the free
 * text people wrote on those records (verification evidence, reasons) goes with the subject. Idempotent:
 * any number of workers may run it. Returns the records cleared of each kind.
 */
export async function purgeExpiredRecords(services: Pick<Services, "ds" | "clock" | "config" | "secret">, batch = RECORD_PURGE_BATCH): Promise<{ requests: number; holds: number }> {
  return { requests: await clearPastRetention(services, requestRecords, batch), holds: await clearPastRetention(services, releasedHolds, batch) };
}
