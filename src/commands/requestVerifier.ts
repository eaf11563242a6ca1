import { Actor } from "../audit/actor";
import { inTransaction } from "../db/transaction";
import { RequestStatus, VerificationMethod } from "../domain/enums";
import { codeMatches } from "../domain/verificationCode";
import { RequestRow } from "../entities";
import { badField, conflict, DsrError } from "../errors";
import { Services } from "../services";
import { loadRequest, moveRequest, updateRequest } from "./requestTransition";

/**
 * Checks the subject's one-time code. The right code moves the request to PENDING_APPROVAL; a wrong one
 * is counted (and audited) even though the call fails, so the attempt limit cannot be dodged.
 */
export async function verifyRequest(services: Services, actor: Actor, id: string, code: string): Promise<RequestRow> {
  const { ds, clock, config, secret } = services;
  const maxAttempts = config.DSR_VERIFICATION_MAX_ATTEMPTS;
  const outcome = await inTransaction(ds, async (em): Promise<RequestRow | DsrError> => {
    const row = await loadRequest(em, id);
    const now = clock.now();
    if (row.status !== RequestStatus.PENDING_VERIFICATION) {
      throw conflict(`Request ${row.id} is ${row.status}, not PENDING_VERIFICATION: it cannot be verified again`, { status: row.status });
    }
    if (!row.verificationCodeHash || row.verificationAttempts >= maxAttempts) {
      throw conflict(`Too many wrong codes for request ${row.id}; issue a new code with resendVerificationCode`);
    }
    if (row.verificationExpiresAt && row.verificationExpiresAt.getTime() <= now.getTime()) {
      throw conflict(`The code of request ${row.id} has expired; issue a new one with resendVerificationCode`);
    }
    if (!codeMatches(secret, row.id, code, row.verificationCodeHash)) {
      const attempts = row.verificationAttempts + 1;
      await updateRequest(em, row, { verificationAttempts: attempts }, { actor, action: "request.verification_failed", details: { attempts } }, now);
      const left = maxAttempts - attempts;
      return badField("code", left > 0 ? `The code is wrong; ${left} attempt(s) left` : "The code is wrong and no attempts are left; issue a new code", {
        attemptsLeft: left,
      });
    }
    return moveRequest(em, row, RequestStatus.PENDING_APPROVAL, { actor, action: "request.verified", details: { method: VerificationMethod.CODE } }, now, {
      verifiedAt: now,
      verificationMethod: VerificationMethod.CODE,
      verificationCodeHash: null,
      verificationExpiresAt: null,
    });
  });
  if (outcome instanceof DsrError) throw outcome;
  return outcome;
}
