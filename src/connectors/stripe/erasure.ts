import { createHash } from "node:crypto";
import type { KeptTally } from "../keptTally";
import type { ResidualRecords, TaskContext } from "../sdk";
import { DISPUTE_RESIDUE_REASON, isRedacted, isRedactedKind, ListKind, listsOf, personalFields, RedactedKind, retainedFromOf, StripeKind, StripeThing } from "./records";
import { Redaction, redactionOf } from "./redaction";
import { canonicalJson } from "../../audit/chain";

/** The Stripe writes erasure makes; each carries the idempotency key it is given. */
export interface StripeWriter {
  update(kind: StripeKind, id: string, params: Record<string, unknown>, key: string, ctx: TaskContext): Promise<unknown>;
  detach(id: string, key: string, ctx: TaskContext): Promise<unknown>;
  cancel(id: string, key: string, ctx: TaskContext): Promise<unknown>;
  /** Deletes the customer, erasing `records` (it and what goes with it); one already gone counts as done. */
  deleteCustomer(id: string, key: string, ctx: TaskContext, records: number): Promise<unknown>;
  /** Pages through a customer's list; `after` picks the next cursor from a handled page. */
  list(kind: ListKind, customer: string, ctx: TaskContext, after: (page: StripeThing[]) => string | undefined): AsyncIterable<StripeThing>;
  /** The disputes of a charge (none unless the charge says it was disputed). */
  disputes(charge: StripeThing, ctx: TaskContext): AsyncIterable<StripeThing>;
}


/** One set of PAYMENTS records left holding personal data, as ErasureOutcome.residual reports it. */
export const residualOf = (kind: StripeKind, count: number, fields: Iterable<string>, reason: string): ResidualRecords => ({ category: "PAYMENTS", type: kind, count, fields: [...fields].sort(), reason });

/** Records erasure leaves holding personal data, one set per kind (the first reason given for it), with every field left in any of them. */
export class ResidueTally {
  private readonly sets = new Map<StripeKind, { count: number; fields: Set<string>; reason: string }>();

  add(kind: StripeKind, fields: readonly string[], reason: string): void {
    const set = this.sets.get(kind) ?? { count: 0, fields: new Set<string>(), reason };
    set.count += 1;
    for (const f of fields) set.fields.add(f);
    this.sets.set(kind, set);
  }

  list(): ResidualRecords[] {
    return [...this.sets].map(([kind, s]) => residualOf(kind, s.count, s.fields, s.reason));
  }
}

/**
 * What erasure does with one dispute (a chargeback, and the evidence the merchant sent the bank: the
 * buyer's name, email, addresses, IP address, messages). Its evidence is never changed: Stripe submits
 * evidence to the bank as it changes, takes no change once it was submitted, and no redaction job takes
 * a dispute. Inside retention it is kept with its metadata blanked; an older one whose evidence still
 * names the buyer is reported residual; one whose evidence holds nothing personal is erased. Returns
 * the count erased and, when kept, its date (the customer is kept as long as it).
 */
export async function eraseDispute(dispute: StripeThing, keepSince: Date | undefined, tally: KeptTally, residue: ResidueTally, writer: StripeWriter, ctx: TaskContext): Promise<{ erased: number; keptAt?: Date }> {
  const { at, kept } = underRetention("dispute", dispute, keepSince);
  const redaction = redactionOf("dispute", dispute, kept);
  await blank(writer, "dispute", dispute.id, redaction, kept, ctx);
  if (kept && at) {
    tally.add("PAYMENTS", "dispute", 1, at, redaction.fields);
    return { erased: 0, keptAt: at };
  }
  const left = personalFields("dispute", dispute);
  if (left.length) {
    residue.add("dispute", left, DISPUTE_RESIDUE_REASON);
    return { erased: 0 };
  }
  return { erased: 1 };
}

/** The date the object's period counts from (retainedFromOf), and whether the 7-year rule keeps it (that date at or after keepSince). */
function underRetention(kind: StripeKind, o: StripeThing, keepSince: Date | undefined): { at: Date | undefined; kept: boolean } {
  const at = retainedFromOf(kind, o);
  return { at, kept: keepSince !== undefined && at !== undefined && at >= keepSince };
}

/**
 * The idempotency key of one write: stable for the task (ctx.idempotencyKey), the write (what it does,
 * including whether retention keeps the object) and the object, so a retried task repeats each write
 * with the same key and parameters, and Stripe replays instead of acting twice.
 */
export function writeKey(taskKey: string, write: string, id: string): string {
  return `dsr_${createHash("sha256").update(`${taskKey}\n${write}\n${id}`).digest("hex")}`;
}

/**
 * Blanks one object's fields (an update), when it has any left to blank; says whether it wrote. The
 * key names the parameters too: a retry that finds the object as the first try left it sends the same
 * update under the same key (Stripe replays it), and one that finds it changed since (a webhook handler
 * tagging it again) sends a new update under a key of its own, which Stripe would otherwise refuse.
 */
async function blank(writer: StripeWriter, kind: StripeKind, id: string, redaction: Redaction, kept: boolean, ctx: TaskContext): Promise<boolean> {
  if (!Object.keys(redaction.params).length) return false;
  await writer.update(kind, id, redaction.params, writeKey(ctx.idempotencyKey, `${kind}.update.${kept ? "kept" : "old"} ${canonicalJson(redaction.params)}`, id), ctx);
  return true;
}

/** An object erasure leaves to a redaction job: the ordinary API cannot blank its personal fields. */
export interface ToRedact {
  kind: RedactedKind;
  id: string;
  /** The invoice a charge paid (a job takes the two together). */
  invoice?: string;
}

/** An object for a redaction job; a charge names the invoice it paid, which a job takes with it. */
export function redactionTarget(kind: RedactedKind, o: StripeThing): ToRedact {
  return { kind, id: o.id, ...(kind === "charge" && typeof o.invoice === "string" ? { invoice: o.invoice } : {}) };
}

/**
 * Erases one customer's records under the 7-year rule, following the counting rule (src/domain/counting.ts):
 * a record created at or after `keepSince` is kept with the fields tax records do not need blanked; an
 * older one is erased: payment methods are blanked and detached, charges and invoices blanked as far as
 * the API allows and handed to `toRedact` for a redaction job (their billing details cannot be edited);
 * old subscriptions are cancelled and blanked, and stay listed with the customer (kept with it, or
 * erased with it). The customer, the anchor of them all, is deleted when
 * nothing is kept, and otherwise kept (redacted, but for its `accountMetadataKey` tag) as long as its newest kept record. Objects already
 * redacted are no longer the subject's records and are passed over, as collect does, but not their
 * disputes (eraseDispute), which a redaction of the charge leaves as they were. A deleted customer
 * (deleted by a run of this erasure before a restart, or by hand in the Dashboard) is read the same way
 * through what it leaves (listsOf), under the same rule: what the tax rule keeps stays. Returns the
 * records erased now (those handed to a redaction job are counted when it ends).
 */
export async function eraseCustomer(
  customer: StripeThing,
  keepSince: Date | undefined,
  tally: KeptTally,
  residue: ResidueTally,
  writer: StripeWriter,
  ctx: TaskContext,
  startRedaction: (items: readonly ToRedact[]) => Promise<void>,
  accountMetadataKey?: string,
): Promise<number> {
  const key = (write: string, id: string) => writeKey(ctx.idempotencyKey, write, id);
  let erased = 0;
  let writes = 0;
  let newestKept: Date | undefined;
  const redactLater: ToRedact[] = [];
  // Old subscriptions go with the customer or stay with it (the counting rule's inseparable records).
  const withCustomer: { fields: readonly string[] }[] = [];
  for (const kind of listsOf(customer)) {
    const detached = new Set<string>();
    const after = (page: StripeThing[]) => [...page].reverse().find((item) => !detached.has(item.id))?.id;
    for await (const item of writer.list(kind, customer.id, ctx, after)) {
      if (kind === "charge") {
        for await (const dispute of writer.disputes(item, ctx)) {
          const outcome = await eraseDispute(dispute, keepSince, tally, residue, writer, ctx);
          erased += outcome.erased;
          if (outcome.keptAt && (!newestKept || outcome.keptAt > newestKept)) newestKept = outcome.keptAt;
        }
      }
      if (isRedacted(kind, item)) continue;
      const { at, kept } = underRetention(kind, item, keepSince);
      const redaction = redactionOf(kind, item, kept);
      let wrote = await blank(writer, kind, item.id, redaction, kept, ctx);
      if (redaction.then === "detach") {
        await writer.detach(item.id, key("payment_method.detach", item.id), ctx);
        detached.add(item.id);
        wrote = true;
      } else if (redaction.then === "cancel") {
        await writer.cancel(item.id, key("subscription.cancel", item.id), ctx);
        wrote = true;
      }
      // Pages heartbeat as they are fetched; a long page of writes must keep the lease too.
      if (wrote && ++writes % 5 === 0) await ctx.heartbeat();
      if (kept && at) {
        tally.add("PAYMENTS", kind, 1, at, redaction.fields);
        if (!newestKept || at > newestKept) newestKept = at;
      } else if (kind === "subscription") {
        withCustomer.push({ fields: redaction.fields });
      } else if (isRedactedKind(kind) && personalFields(kind, blanked(item, redaction.params)).length) {
        redactLater.push(redactionTarget(kind, item));
      } else erased += 1;
    }
  }
  // The jobs start before the customer goes: a restart after the delete still finds these objects by it.
  if (redactLater.length) await startRedaction(redactLater);
  // A deleted customer (by this erasure before a restart, or by hand) has nothing more to erase or keep.
  if (customer.deleted) return erased;
  const { at: customerAt, kept: customerInside } = underRetention("customer", customer, keepSince);
  if (!newestKept && !customerInside) {
    await writer.deleteCustomer(customer.id, key("customer.delete", customer.id), ctx, withCustomer.length + 1);
    return erased + withCustomer.length + 1;
  }
  // A kept customer keeps the account's tag: collect tells by it whose the customer is, not by the address typed into it.
  const redaction = redactionOf("customer", customer, true, accountMetadataKey);
  await blank(writer, "customer", customer.id, redaction, true, ctx);
  // The customer is held as long as the newest record kept with it (or itself, when it is the newer).
  const heldFrom = newestKept && (!customerInside || newestKept > customerAt!) ? newestKept : customerAt!;
  tally.add("PAYMENTS", "customer", 1, heldFrom, redaction.fields);
  for (const s of withCustomer) tally.add("PAYMENTS", "subscription", 1, heldFrom, s.fields);
  return erased;
}

/**
 * Erases what a guest left without a customer (charges and Checkout Sessions, found by the email they
 * carry, their PaymentIntents, and the invoices a deleted customer of theirs left) under the 7-year rule, as eraseCustomer does a customer's: one
 * created at or after `keepSince` is kept with the fields tax records do not need blanked; an older one
 * is blanked as far as the API allows and handed to a redaction job for the rest (a charge's billing
 * details, a session's customer details, a PaymentIntent's receipt address and shipping). Returns the
 * records erased now (those handed to a job are counted when it ends).
 */
export async function eraseGuestObjects(
  kind: "charge" | "invoice" | "checkout_session" | "payment_intent",
  objects: readonly StripeThing[],
  keepSince: Date | undefined,
  tally: KeptTally,
  writer: StripeWriter,
  ctx: TaskContext,
  startRedaction: (items: readonly ToRedact[]) => Promise<void>,
): Promise<number> {
  let erased = 0;
  const redactLater: ToRedact[] = [];
  for (const [i, o] of objects.entries()) {
    const { at, kept } = underRetention(kind, o, keepSince);
    const redaction = redactionOf(kind, o, kept);
    await blank(writer, kind, o.id, redaction, kept, ctx);
    if ((i + 1) % 5 === 0) await ctx.heartbeat();
    if (kept && at) tally.add("PAYMENTS", kind, 1, at, redaction.fields);
    else if (personalFields(kind, blanked(o, redaction.params)).length) redactLater.push(redactionTarget(kind, o));
    else erased += 1;
  }
  if (redactLater.length) await startRedaction(redactLater);
  return erased;
}

/** The object as it is once the update's parameters are applied (an empty value unsets a field). */
function blanked(o: StripeThing, params: Record<string, unknown>): StripeThing {
  const out: StripeThing = { ...o };
  for (const [field, value] of Object.entries(params)) {
    out[field] = value && typeof value === "object" ? Object.fromEntries(Object.keys(value).map((k) => [k, null])) : null;
  }
  return out;
}
