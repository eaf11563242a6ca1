import { RequestType } from "./enums";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Calendar days a request type has before it is due (POLICY.md: access, portability 30; deletion default 30). */
export const CALENDAR_DAYS_TO_ANSWER = 30;
/** Business days a correction has (POLICY.md: 15 business days; Saturdays and Sundays, UTC, do not count). */
export const BUSINESS_DAYS_TO_CORRECT = 15;
/** Total extension allowed on one request (two further months, as GDPR Art. 12(3) permits). */
export const MAX_EXTENSION_DAYS = 60;

export function addCalendarDays(from: Date, days: number): Date {
  return new Date(from.getTime() + days * DAY_MS);
}

/** Adds business days, skipping Saturdays and Sundays in UTC; the time of day is kept. */
export function addBusinessDays(from: Date, days: number): Date {
  let at = new Date(from.getTime());
  let left = days;
  while (left > 0) {
    at = new Date(at.getTime() + DAY_MS);
    const weekday = at.getUTCDay();
    if (weekday !== 0 && weekday !== 6) left -= 1;
  }
  return at;
}

export function initialDueAt(type: RequestType, receivedAt: Date): Date {
  return type === RequestType.CORRECTION
    ? addBusinessDays(receivedAt, BUSINESS_DAYS_TO_CORRECT)
    : addCalendarDays(receivedAt, CALENDAR_DAYS_TO_ANSWER);
}
