import { Actor, SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { EntityManager } from "typeorm";
import { RequestStatus, VerificationMethod } from "../domain/enums";
import { generateCode, hashCode } from "../domain/verificationCode";
import { AuditEventRow, keptSubjectEmail, RequestRow } from "../entities";
import { conflict, DsrError } from "../errors";
import { lockSubject } from "../orchestrator/holdFence";
import { Services } from "../services";
import { loadRequest, updateRequest } from "./requestTransition";

/**
 * Hands a code to the notifier. Runs after the commit: a delivery failure is logged and leaves the
 * request waiting, from where resendVerificationCode issues a new code. The trail already says a code
 * was sent (request.submitted, request.verification_code_sent, written with the code's hash), so a
 * failure appends request.verification_code_undelivered, committed alone: the trail never reads as a
 * code that reached the person when none did. Its reason names no internals (the log has them).
 */
export async function sendVerificationCode(services: Services, row: RequestRow, code: string): Promise<void> {
  try {
    await services.notifier.sendVerificationCode({
      requestId: row.id,
      requestType: row.type,
      // The address as typed: a mail system may, rarely, tell local parts apart by case.
      email: row.subjectEmailAsTyped ?? keptSubjectEmail(row),
      code,
      expiresAt: row.verificationExpiresAt!,
    });
  } catch (error) {
    services.logger.warn({ requestId: row.id, notifier: services.notifier.kind, err: (error as Error).message }, "verification code could not be delivered");
    const details = { notifier: services.notifier.kind, reason: "the notifier did not accept the code (the service log says why); resendVerificationCode sends a new one" };
    await inTransaction(services.ds, (em) => appendAuditEvent(em, { requestId: row.id, actor: SYSTEM_ACTOR, action: "request.verification_code_undelivered", details }, services.clock.now())).catch((auditError) =>
      services.logger.error({ requestId: row.id, err: auditError }, "verification code undelivered, and its audit event could not be written"),
    );
  }
}

const DAY_MS = 24 * 60 * 60_000;

/**
 * Refuses to send one more code to `email` when DSR_VERIFICATION_CODES_PER_DAY went to it in the last
 * 24 hours, across its requests: each request submitted for a code (its receivedAt) and each resend (its
 * request.verification_code_sent event). Read from what the database holds, so every process counts
 * alike; the caller holds the subject's lock (lockSubject), so two at once take turns. RATE_LIMITED
 * with reason VERIFICATION_CODE_LIMIT, and the seconds until the oldest code counted leaves the window.
 */
export async function refuseCodeFlood(em: EntityManager, email: string, now: Date, perDay: number): Promise<void> {
  const since = new Date(now.getTime() - DAY_MS);
  const submitted = await em
    .getRepository(RequestRow)
    .createQueryBuilder("r")
    .select(["r.id", "r.receivedAt"])
    .where("r.subjectEmail = :email AND r.receivedAt > :since", { email, since })
    // A code went out at submission unless a caller vouched (TRUSTED_CALLER, SESSION); verified by the code later, CODE.
    .andWhere("(r.verificationMethod IS NULL OR r.verificationMethod = :code)", { code: VerificationMethod.CODE })
    .orderBy("r.receivedAt", "ASC")
    .limit(perDay)
    .getMany();
  const resent = await em
    .getRepository(AuditEventRow)
    .createQueryBuilder("e")
    .select(["e.stream", "e.seq", "e.occurredAt"])
    .innerJoin(RequestRow, "r", "r.id = e.requestId")
    .where("r.subjectEmail = :email AND e.action = :sent AND e.occurredAt > :since", { email, sent: "request.verification_code_sent", since })
    .orderBy("e.occurredAt", "ASC")
    .limit(perDay)
    .getMany();
  const sentAt = [...submitted.map((r) => r.receivedAt), ...resent.map((e) => e.occurredAt)].sort((a, b) => a.getTime() - b.getTime());
  if (sentAt.length < perDay) return;
  // A slot frees when the oldest of the newest perDay codes leaves the window.
  const freedAt = sentAt[sentAt.length - perDay].getTime() + DAY_MS;
  const retryAfterSeconds = Math.max(1, Math.ceil((freedAt - now.getTime()) / 1000));
  throw new DsrError("RATE_LIMITED", `This address has been sent ${perDay} verification codes in the last 24 hours, the most it may get (DSR_VERIFICATION_CODES_PER_DAY); no code was sent and nothing changed. Retry in ${retryAfterSeconds} s, or have a trusted caller verify the person another way (identityVerified).`, {
    reason: "VERIFICATION_CODE_LIMIT",
    retryAfterSeconds,
  });
}

/** Per database, per request id: the resend this process is running (see resendVerificationCode). */
const resending = new WeakMap<object, Map<string, Promise<RequestRow>>>();

/**
 * Replaces the code of a request awaiting verification with a fresh one and resets the attempt count.
 * Calls for one request that come while one is running in this process get that one's outcome: one
 * code is sent, once, and no earlier code's delivery can arrive after the valid one's (deliveries
 * follow the commit, so two resends whose transactions took turns could deliver in either order).
 * Across processes the version check refuses all but one of overlapping resends with CONFLICT.
 */
export function resendVerificationCode(services: Services, actor: Actor, id: string): Promise<RequestRow> {
  let running = resending.get(services.ds);
  if (!running) resending.set(services.ds, (running = new Map()));
  const key = id.toLowerCase();
  const under = running.get(key);
  if (under) return under;
  const resend = issueNewCode(services, actor, id).finally(() => running.delete(key));
  running.set(key, resend);
  return resend;
}

async function issueNewCode(services: Services, actor: Actor, id: string): Promise<RequestRow> {
  const { ds, clock, config, secret } = services;
  const code = generateCode();
  const row = await inTransaction(ds, async (em) => {
    const current = await loadRequest(em, id);
    if (current.status !== RequestStatus.PENDING_VERIFICATION) {
      throw conflict(`Request ${current.id} is ${current.status}; only a request in PENDING_VERIFICATION gets a new code`);
    }
    const now = clock.now();
    await lockSubject(em, keptSubjectEmail(current), now);
    await refuseCodeFlood(em, keptSubjectEmail(current), now, config.DSR_VERIFICATION_CODES_PER_DAY);
    return updateRequest(
      em,
      current,
      {
        verificationCodeHash: hashCode(secret, current.id, code),
        verificationExpiresAt: new Date(now.getTime() + config.DSR_VERIFICATION_TTL_MINUTES * 60_000),
        verificationAttempts: 0,
      },
      { actor, action: "request.verification_code_sent" },
      now,
    );
  });
  await sendVerificationCode(services, row, code);
  return row;
}
