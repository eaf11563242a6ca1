import { RequestStatus as S } from "./enums";

/**
 * Every move a request's status can make. A status only moves forward or to a terminal state (the one
 * exception: retryTask reopens a FAILED request); the transition function refuses anything else with CONFLICT.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<S, readonly S[]>> = {
  [S.PENDING_VERIFICATION]: [S.PENDING_APPROVAL, S.REJECTED, S.CANCELLED],
  [S.PENDING_APPROVAL]: [S.IN_PROGRESS, S.REJECTED, S.CANCELLED],
  [S.IN_PROGRESS]: [S.AWAITING_INPUT, S.COMPLETED, S.FAILED],
  [S.AWAITING_INPUT]: [S.IN_PROGRESS, S.COMPLETED, S.FAILED],
  [S.COMPLETED]: [],
  // Only an operator's retryTask reopens a failed request.
  [S.FAILED]: [S.IN_PROGRESS],
  [S.REJECTED]: [],
  [S.CANCELLED]: [],
};

export function canMove(from: S, to: S): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** The statuses from which a move to `to` is allowed. */
export function statusesLeadingTo(to: S): S[] {
  return (Object.keys(ALLOWED_TRANSITIONS) as S[]).filter((from) => canMove(from, to));
}
