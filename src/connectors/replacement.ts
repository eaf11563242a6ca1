/** A value an ANONYMIZE erase writes in place of personal data (the declarative SQL and HTTP connectors). */
export type ReplacementValue = string | number | boolean | null;

/** Whether a configured replacement is one: a string, a finite number, a boolean or null. */
export function isReplacementValue(value: unknown): value is ReplacementValue {
  return value === null || typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value));
}
