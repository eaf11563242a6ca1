import { normalizeEmail } from "../../domain/identities";
import type { SubjectRecord } from "../sdk";

/** The kinds of Stripe object the connector reads, by Stripe's `object` name. */
export type StripeKind = "customer" | "payment_method" | "charge" | "invoice" | "subscription" | "checkout_session" | "payment_intent" | "dispute";

/** The lists read per customer, in the order collect returns them. */
export const CUSTOMER_LISTS = ["payment_method", "charge", "invoice", "subscription", "checkout_session", "payment_intent"] as const;
export type ListKind = (typeof CUSTOMER_LISTS)[number];

/**
 * The kinds whose personal fields the ordinary API cannot blank, left to a redaction job, with the key
 * a job names their ids under.
 */
export const JOB_OBJECTS = { charge: "charges", invoice: "invoices", checkout_session: "checkout_sessions", payment_intent: "payment_intents" } as const;
export type RedactedKind = keyof typeof JOB_OBJECTS;
export const isRedactedKind = (kind: StripeKind): kind is RedactedKind => kind in JOB_OBJECTS;

/**
 * The lists a customer still has. A deleted one (an agent deleted it in the Dashboard) keeps its
 * charges, invoices, Checkout Sessions and PaymentIntents, with the buyer's details, under its id;
 * Stripe detached its payment methods and canceled its subscriptions with it.
 */
export const listsOf = (customer: StripeThing): readonly ListKind[] => (customer.deleted ? CUSTOMER_LISTS.filter((kind) => isRedactedKind(kind)) : CUSTOMER_LISTS);

/** A Stripe object as the connector reads it: only `id` and `created` are relied upon. */
export type StripeThing = { id: string; created?: number } & Record<string, unknown>;

/** Unix-second fields turned into ISO dates in the export. */
const TIMES = new Set(["created", "canceled_at"]);

/**
 * What the subject receives of each kind. Payment methods carry the card's brand, last 4 digits and
 * expiry only (the rest of the card stays at Stripe), with the billing details typed for it.
 */
const EXPORTED: Record<StripeKind, readonly string[]> = {
  customer: ["email", "name", "phone", "address", "description", "shipping", "currency", "metadata", "created"],
  payment_method: ["type", "billing_details", "created"],
  charge: ["amount", "currency", "status", "description", "billing_details", "receipt_email", "shipping", "invoice", "metadata", "created"],
  invoice: ["number", "status", "currency", "subtotal", "tax", "total", "amount_paid", "customer_name", "customer_email", "customer_phone", "customer_address", "customer_shipping", "description", "footer", "metadata", "created"],
  subscription: ["status", "plan", "description", "metadata", "created", "canceled_at"],
  checkout_session: ["status", "payment_status", "mode", "amount_total", "currency", "customer_email", "customer_details", "shipping_details", "payment_intent", "invoice", "metadata", "created"],
  payment_intent: ["amount", "currency", "status", "description", "receipt_email", "shipping", "latest_charge", "metadata", "created"],
  // The evidence as sent to the bank: what the merchant said about the buyer (files by their ids).
  dispute: ["amount", "currency", "reason", "status", "charge", "payment_intent", "evidence", "metadata", "created"],
};

/** When the object came into being (Stripe's `created`, in seconds). */
export function createdAt(o: StripeThing): Date | undefined {
  return typeof o.created === "number" ? new Date(o.created * 1000) : undefined;
}

/**
 * The date an object's retention period counts from: when it came into being, and for an invoice paid
 * later (one sent with days to pay), when it was paid (`status_transitions.paid_at`): the charge that
 * paid it is a tax record as young as that, and a redaction job given the invoice redacts that charge.
 */
export function retainedFromOf(kind: StripeKind, o: StripeThing): Date | undefined {
  const created = createdAt(o);
  const paidAt = kind === "invoice" ? (o.status_transitions as { paid_at?: unknown } | null | undefined)?.paid_at : undefined;
  return typeof paidAt === "number" && created && paidAt * 1000 > created.getTime() ? new Date(paidAt * 1000) : created;
}

function card(o: StripeThing): Record<string, unknown> {
  const c = (o.card ?? {}) as Record<string, unknown>;
  return { brand: c.brand ?? null, last4: c.last4 ?? null, exp_month: c.exp_month ?? null, exp_year: c.exp_year ?? null };
}

/** Why an old dispute's evidence stays: said on the plan, the request's residual records and its certificate. */
export const DISPUTE_RESIDUE_REASON =
  "a dispute's evidence cannot be changed through Stripe's API once it was submitted to the bank, and Stripe's redaction jobs do not take disputes: ask Stripe support to redact it";

/** What Stripe shows in place of a redacted value. */
export const REDACTED = "[redacted]";

/** The fields of each kind that carry personal data (billing_details by its parts). */
const PERSONAL: Record<StripeKind, readonly string[]> = {
  customer: ["email", "name", "phone", "address", "shipping", "description"],
  payment_method: ["billing_details.name", "billing_details.email", "billing_details.phone", "billing_details.address"],
  charge: ["billing_details.name", "billing_details.email", "billing_details.phone", "billing_details.address", "receipt_email", "shipping.name", "shipping.phone", "shipping.address"],
  invoice: ["customer_name", "customer_email", "customer_phone", "customer_address", "customer_shipping.name", "customer_shipping.phone", "customer_shipping.address", "footer"],
  subscription: [],
  checkout_session: ["customer_details.name", "customer_details.email", "customer_details.phone", "customer_details.address", "customer_email", "shipping_details"],
  payment_intent: ["receipt_email", "shipping.name", "shipping.phone", "shipping.address"],
  dispute: [
    "evidence.customer_name",
    "evidence.customer_email_address",
    "evidence.customer_purchase_ip",
    "evidence.billing_address",
    "evidence.shipping_address",
    "evidence.access_activity_log",
    "evidence.uncategorized_text",
    "evidence.customer_communication",
    "evidence.customer_signature",
  ],
};

const valueAt = (o: Record<string, unknown>, path: string): unknown => path.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), o);
const holdsData = (v: unknown): boolean =>
  v !== null && v !== undefined && v !== "" && v !== REDACTED && (typeof v !== "object" || Object.values(v as Record<string, unknown>).some(holdsData));

/** The personal fields an object still holds (none once blanked or redacted). */
export function personalFields(kind: StripeKind, o: StripeThing): string[] {
  return PERSONAL[kind].filter((f) => holdsData(valueAt(o, f)));
}

/** Redacted by a redaction job: its personal fields show Stripe's placeholder, and it no longer is the subject's data. */
export function isRedacted(kind: StripeKind, o: StripeThing): boolean {
  return PERSONAL[kind].some((f) => valueAt(o, f) === REDACTED || (f.includes(".") && valueAt(o, f.split(".")[0]) === REDACTED)) && personalFields(kind, o).length === 0;
}

/** What a guest (no customer) typed as their email, by kind of object: collect finds the object by it. */
const GUEST_EMAIL = { charge: "billing_details", checkout_session: "customer_details" } as const;
export type GuestFoundKind = keyof typeof GUEST_EMAIL;

/** The email, in matching form, typed on a charge (billing) or Checkout Session (customer details); undefined when blank or redacted. */
export function typedEmailOf(kind: GuestFoundKind, o: StripeThing): string | undefined {
  const typed = (o[GUEST_EMAIL[kind]] as { email?: unknown } | null | undefined)?.email;
  return typeof typed === "string" && holdsData(typed) ? normalizeEmail(typed) : undefined;
}

/** The email, in matching form, an invoice was made out to (`customer_email`); undefined when blank or redacted. */
export function invoiceEmailOf(o: StripeThing): string | undefined {
  return typeof o.customer_email === "string" && holdsData(o.customer_email) ? normalizeEmail(o.customer_email) : undefined;
}

/**
 * The email, in matching form, that collect finds a guest's object by (a charge's billing email, a
 * Checkout Session's customer_details email); undefined for an object with a live customer (read under
 * it), a redacted one, or one whose email is blank or redacted (nothing finds it by email). An object
 * whose customer was deleted is found by it too, when it shows the customer expanded.
 */
export function guestEmailOf(kind: GuestFoundKind, o: StripeThing): string | undefined {
  return (o.customer && !deletedCustomerOf(o)) || isRedacted(kind, o) ? undefined : typedEmailOf(kind, o);
}

/**
 * The id of the object's customer when Stripe shows it deleted (a list or search that expanded
 * `data.customer`): deleted by hand, it no longer leads to the object, which the email typed on it does.
 */
export function deletedCustomerOf(o: StripeThing): string | undefined {
  const customer = o.customer as { id?: unknown; deleted?: unknown } | string | null | undefined;
  return customer && typeof customer === "object" && customer.deleted === true && typeof customer.id === "string" ? customer.id : undefined;
}

/** A customer's email in matching form, unless it has none (blank or redacted). */
export const customerEmailOf = (customer: StripeThing): string | undefined =>
  typeof customer.email === "string" && holdsData(customer.email) ? normalizeEmail(customer.email) : undefined;

/**
 * A Stripe object as a PAYMENTS record: the exported fields only, times as ISO strings. The customer is
 * the anchor its objects hang off (the counting rule: kept while any of them is kept).
 */
export function toRecord(kind: StripeKind, o: StripeThing, customerId?: string): SubjectRecord {
  const data: Record<string, unknown> = {};
  for (const field of EXPORTED[kind]) {
    const value = o[field];
    if (value === undefined) continue;
    data[field] = TIMES.has(field) && typeof value === "number" ? new Date(value * 1000).toISOString() : value;
  }
  if (kind === "payment_method") data.card = card(o);
  // Stripe lists a subscription under its customer for good, cancelled or not: it goes only with the customer.
  const tie = kind === "customer" ? { anchor: true } : customerId ? { keptWith: customerId, ...(kind === "subscription" ? { inseparable: true } : {}) } : {};
  const recordedAt = createdAt(o);
  const retainedFrom = retainedFromOf(kind, o);
  // A dispute's evidence is never changed (eraseDispute): one that still names the buyer stays, residual, when not kept.
  const stays = kind === "dispute" && personalFields(kind, o).length ? { residualOnErasure: DISPUTE_RESIDUE_REASON } : {};
  return { category: "PAYMENTS", type: kind, id: o.id, data, recordedAt, ...(retainedFrom && retainedFrom.getTime() !== recordedAt?.getTime() ? { retainedFrom } : {}), ...tie, ...stays };
}
