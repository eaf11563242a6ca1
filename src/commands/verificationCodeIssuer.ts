import { Actor } from "../audit/actor";
import { inTransaction } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { generateCode, hashCode } from "../domain/verificationCode";
import { keptSubjectEmail, RequestRow } from "../entities";
import { conflict } from "../errors";
import { Services } from "../services";
import { loadRequest, updateRequest } from "./requestTransition";

/**
 * Hands a code to the notifier. Runs after the commit: a delivery failure is logged and leaves the
 * request waiting, from where resendVerificationCode issues a new code.
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
  }
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
