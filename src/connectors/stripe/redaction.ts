import type { StripeKind, StripeThing } from "./records";

/**
 * What erasure does to one Stripe object through the ordinary API. Stripe deletes customers only:
 * charges and finalized invoices stay for the books, so personal fields are blanked instead (an empty
 * string unsets a field in Stripe's form encoding). Records inside retention keep what tax records need
 * (amounts, dates, invoice number, billed name and address, what was sold); the rest is blanked. What
 * the API cannot blank (a charge's billing details, a finalized invoice's customer fields) is left to a
 * redaction job (redactionJobs.ts).
 */
export interface Redaction {
  /** Fields blanked, for KeptRecords.redactedFields and the update's parameters. */
  fields: readonly string[];
  /** Update parameters (empty: nothing left to blank). */
  params: Record<string, string | Record<string, string>>;
  /** A further step: detach a payment method (out of retention) or cancel a live subscription. */
  then?: "detach" | "cancel";
}

const isBlank = (v: unknown): boolean =>
  v === null || v === undefined || v === "" || (typeof v === "object" && Object.values(v as Record<string, unknown>).every(isBlank));

/** Fields each kind blanks, inside retention and outside it. */
const BLANKED: Record<StripeKind, { kept: readonly string[]; old: readonly string[] }> = {
  customer: { kept: ["phone", "shipping", "description", "metadata"], old: [] },
  payment_method: { kept: ["billing_details"], old: ["billing_details"] },
  // Where the goods went is no tax record (the billing details are): a charge takes its blanking.
  charge: { kept: ["metadata", "receipt_email", "shipping"], old: ["metadata", "receipt_email", "description", "shipping"] },
  invoice: { kept: ["metadata"], old: ["metadata", "description", "footer"] },
  subscription: { kept: ["metadata"], old: ["metadata", "description"] },
  // A Checkout Session takes no change to what the buyer typed: an old one goes to a redaction job.
  checkout_session: { kept: ["metadata"], old: ["metadata"] },
  // A PaymentIntent's receipt address and shipping are left as they are once it succeeded: metadata only.
  payment_intent: { kept: ["metadata"], old: ["metadata"] },
  // A dispute's evidence is never changed (Stripe submits evidence to the bank as it changes): metadata only.
  dispute: { kept: ["metadata"], old: ["metadata"] },
};

/** Billing details are blanked field by field (Stripe takes no empty value for the whole object). */
const BILLING_DETAILS = { name: "", email: "", phone: "", address: "" };

/**
 * The metadata update that blanks every key but `keep` (an empty value unsets one key; an empty
 * metadata unsets them all); undefined when nothing else is set.
 */
function metadataBlanked(metadata: unknown, keep: string | undefined): string | Record<string, string> | undefined {
  const keys = metadata && typeof metadata === "object" ? Object.keys(metadata).filter((k) => !isBlank((metadata as Record<string, unknown>)[k])) : [];
  if (keep === undefined || !keys.includes(keep)) return keys.length ? "" : undefined;
  const others = keys.filter((k) => k !== keep);
  return others.length ? Object.fromEntries(others.map((k) => [k, ""])) : undefined;
}

/**
 * The redaction of one object, given whether retention keeps it. `keepMetadataKey` survives the
 * metadata's blanking: a kept customer keeps the platform's account tag (accountMetadataKey), without
 * which it would read as a guest checkout of whoever's address was typed into it.
 */
export function redactionOf(kind: StripeKind, o: StripeThing, kept: boolean, keepMetadataKey?: string): Redaction {
  const fields = kept ? BLANKED[kind].kept : BLANKED[kind].old;
  const params: Redaction["params"] = {};
  // A canceled subscription takes only metadata changes at Stripe.
  const allowed = kind === "subscription" && o.status === "canceled" ? fields.filter((f) => f === "metadata") : fields;
  for (const field of allowed) {
    if (field === "metadata") {
      const metadata = metadataBlanked(o.metadata, keepMetadataKey);
      if (metadata !== undefined) params.metadata = metadata;
    } else if (!isBlank(o[field])) params[field] = field === "billing_details" ? BILLING_DETAILS : "";
  }
  const then = kind === "payment_method" && !kept ? "detach" : kind === "subscription" && o.status !== "canceled" ? "cancel" : undefined;
  return { fields, params, then };
}
