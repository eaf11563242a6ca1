import { recordDates, SamplePerson } from "../people";

/**
 * The sample payment records, as Stripe API objects: one customer per paying sample person, with
 * cards, a subscription, and one paid invoice + its charge per payment. Dates come from recordDates,
 * so they spread over the 8 years before SAMPLE_EPOCH (some inside the 7-year rule, some outside).
 */

/** A Stripe API object as the stand-in stores and answers it. */
export type StripeObject = Record<string, unknown> & { id: string; object: string; created?: number };

/** The lists the stand-in holds, by Stripe's `object` name. */
export const COLLECTIONS = ["customer", "payment_method", "charge", "invoice", "subscription", "checkout_session", "payment_intent", "dispute"] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** The collection an object belongs to (Stripe names a Checkout Session `checkout.session`). */
export const collectionOf = (o: StripeObject): Collection => (o.object === "checkout.session" ? "checkout_session" : o.object) as Collection;

const BRANDS = ["visa", "mastercard", "amex"];
const PLANS = [
  { nickname: "Team", amount: 2400, interval: "month" },
  { nickname: "Business", amount: 9900, interval: "month" },
  { nickname: "Starter", amount: 19200, interval: "year" },
];

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
const pad = (n: number) => String(n).padStart(4, "0");

function addressOf(p: SamplePerson): Record<string, unknown> {
  return { line1: `${10 + (p.index % 90)} Sample Street`, line2: null, city: p.index % 2 ? "London" : "Pune", state: null, postal_code: String(10_000 + p.index), country: p.index % 2 ? "GB" : "IN" };
}

/** Every Stripe object of one sample person (none when the person never paid). */
export function seedPerson(p: SamplePerson): StripeObject[] {
  if (!p.paymentCustomerId) return [];
  const cus = p.paymentCustomerId;
  const suffix = cus.slice("cus_".length);
  const address = addressOf(p);
  const plan = PLANS[p.index % PLANS.length];
  const currency = p.index % 2 ? "gbp" : "inr";
  const out: StripeObject[] = [];
  out.push({
    id: cus,
    object: "customer",
    created: seconds(p.createdAt),
    email: p.email,
    name: p.name,
    phone: p.phone ?? null,
    address,
    description: `${p.company} (${p.jobTitle})`,
    shipping: { name: p.name, phone: p.phone ?? null, address },
    metadata: { user_id: p.userId },
    currency,
    livemode: false,
  });
  const cardDates = recordDates(p, 1 + (p.index % 2), "payment_method");
  cardDates.forEach((at, i) => {
    out.push({
      id: `pm_${suffix}${pad(i)}`,
      object: "payment_method",
      created: seconds(at),
      customer: cus,
      type: "card",
      card: { brand: BRANDS[(p.index + i) % BRANDS.length], last4: String(4242 + p.index * 7 + i).slice(-4), exp_month: 1 + ((p.index + i) % 12), exp_year: at.getUTCFullYear() + 4 },
      billing_details: { name: p.name, email: p.email, phone: p.phone ?? null, address },
      metadata: {},
      livemode: false,
    });
  });
  const payments = recordDates(p, p.paymentCount, "payment");
  const subscriptionId = `sub_${suffix}${pad(0)}`;
  if (payments.length) {
    out.push({
      id: subscriptionId,
      object: "subscription",
      created: seconds(payments[0]),
      customer: cus,
      status: p.status === "CLOSED" ? "canceled" : "active",
      canceled_at: p.closedAt ? seconds(p.closedAt) : null,
      plan: { ...plan, currency },
      description: null,
      metadata: { seats: String(1 + (p.index % 9)) },
      livemode: false,
    });
  }
  payments.forEach((at, i) => {
    const tax = Math.round(plan.amount * 0.18);
    const chargeId = `ch_${suffix}${pad(i)}`;
    const invoiceId = `in_${suffix}${pad(i)}`;
    out.push({
      id: invoiceId,
      object: "invoice",
      created: seconds(at),
      customer: cus,
      number: `${suffix}-${pad(i + 1)}`,
      status: "paid",
      currency,
      subtotal: plan.amount,
      tax,
      total: plan.amount + tax,
      amount_due: plan.amount + tax,
      amount_paid: plan.amount + tax,
      customer_name: p.name,
      customer_email: p.email,
      customer_phone: p.phone ?? null,
      customer_address: address,
      description: `${plan.nickname} plan, ${p.company}`,
      footer: `Thank you, ${p.name.split(" ")[0]}!`,
      charge: chargeId,
      subscription: subscriptionId,
      metadata: { cost_centre: `CC-${p.index % 17}` },
      livemode: false,
    });
    out.push({
      id: chargeId,
      object: "charge",
      created: seconds(at),
      customer: cus,
      amount: plan.amount + tax,
      currency,
      status: "succeeded",
      paid: true,
      description: `${plan.nickname} plan`,
      invoice: invoiceId,
      payment_method: `pm_${suffix}${pad(0)}`,
      receipt_email: p.email,
      billing_details: { name: p.name, email: p.email, phone: p.phone ?? null, address },
      metadata: { order_ref: `ORD-${suffix}-${i}` },
      livemode: false,
    });
  });
  return out;
}
