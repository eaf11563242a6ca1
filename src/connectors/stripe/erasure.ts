import { createHash } from "node:crypto";
import type { KeptRecords, TaskContext } from "../sdk";
import { createdAt, CUSTOMER_LISTS, ListKind, StripeKind, StripeThing } from "./records";
import { redactionOf } from "./redaction";

/** The Stripe writes erasure makes; each carries the idempotency key it is given. */
export interface StripeWriter {
  update(kind: StripeKind, id: string, params: Record<string, unknown>, key: string, ctx: TaskContext): Promise<unknown>;
  detach(id: string, key: string, ctx: TaskContext): Promise<unknown>;
  cancel(id: string, key: string, ctx: TaskContext): Promise<unknown>;
  /** Deletes the customer; one already gone counts as done. */
  deleteCustomer(id: string, key: string, ctx: TaskContext): Promise<unknown>;
  /** Pages through a customer's list; `after` picks the next cursor from a handled page. */
  list(kind: ListKind, customer: string, ctx: TaskContext, after: (page: StripeThing[]) => string | undefined): AsyncIterable<StripeThing>;
}

/**
 * The idempotency key of one write: stable for the task (ctx.idempotencyKey), the write (what it does,
 * including whether retention keeps the object) and the object, so a retried task repeats each write
 * with the same key and parameters, and Stripe replays instead of acting twice.
 */
export function writeKey(taskKey: string, write: string, id: string): string {
  return `dsr_${createHash("sha256").update(`${taskKey}\n${write}\n${id}`).digest("hex")}`;
}

/** Record sets kept under retention, per type, as ErasureOutcome.kept reports them. */
export class KeptTally {
  private readonly sets = new Map<string, { count: number; newest: Date; fields: Set<string> }>();

  add(type: StripeKind, recordedAt: Date, redactedFields: readonly string[]): void {
    const set = this.sets.get(type) ?? { count: 0, newest: recordedAt, fields: new Set<string>() };
    set.count += 1;
    if (recordedAt > set.newest) set.newest = recordedAt;
    for (const f of redactedFields) set.fields.add(f);
    this.sets.set(type, set);
  }

  result(): KeptRecords[] {
    return [...this.sets].map(([type, s]) => ({ category: "PAYMENTS", type, count: s.count, newestRecordedAt: s.newest, redactedFields: [...s.fields] }));
  }
}

/**
 * Erases one customer's records under the 7-year rule and returns how many were erased. Records
 * created at or after `keepSince` are kept with the fields tax records do not need blanked; older
 * ones are blanked as far as Stripe allows (payment methods detached, subscriptions cancelled). The
 * customer is deleted only when nothing of it is kept; otherwise it stays, redacted, held until its
 * newest kept record's period ends. Objects already blanked need no write, so a retry resumes.
 */
export async function eraseCustomer(customer: StripeThing, keepSince: Date | undefined, tally: KeptTally, writer: StripeWriter, ctx: TaskContext): Promise<number> {
  const key = (write: string, id: string) => writeKey(ctx.idempotencyKey, write, id);
  let erased = 0;
  let writes = 0;
  let newestKept: Date | undefined;
  // Old records Stripe keeps listed under the customer (charges, invoices, cancelled subscriptions):
  // they go with the customer, or stay with it while it is held.
  const lingering: { kind: StripeKind; at: Date; fields: readonly string[]; wrote: boolean }[] = [];
  for (const kind of CUSTOMER_LISTS) {
    const detached = new Set<string>();
    const after = (page: StripeThing[]) => [...page].reverse().find((item) => !detached.has(item.id))?.id;
    for await (const item of writer.list(kind, customer.id, ctx, after)) {
      const at = createdAt(item);
      const kept = keepSince !== undefined && at !== undefined && at >= keepSince;
      const redaction = redactionOf(kind, item, kept);
      const variant = kept ? "kept" : "old";
      let wrote = false;
      if (Object.keys(redaction.params).length) {
        await writer.update(kind, item.id, redaction.params, key(`${kind}.update.${variant}`, item.id), ctx);
        wrote = true;
      }
      if (redaction.then === "detach") {
        await writer.detach(item.id, key("payment_method.detach", item.id), ctx);
        detached.add(item.id);
        wrote = true;
      } else if (redaction.then === "cancel") {
        await writer.cancel(item.id, key("subscription.cancel", item.id), ctx);
        wrote = true;
      }
      // Pages heartbeat as they are fetched; a long page of writes must keep the lease too.
      if (wrote && ++writes % 20 === 0) await ctx.heartbeat();
      if (kept && at) {
        tally.add(kind, at, redaction.fields);
        if (!newestKept || at > newestKept) newestKept = at;
      } else {
        if (redaction.then !== "detach" && at) lingering.push({ kind, at, fields: redaction.fields, wrote });
        if (wrote) erased += 1;
      }
    }
  }
  const customerAt = createdAt(customer);
  const customerInside = keepSince !== undefined && customerAt !== undefined && customerAt >= keepSince;
  if (!newestKept && !customerInside) {
    await writer.deleteCustomer(customer.id, key("customer.delete", customer.id), ctx);
    return erased + 1;
  }
  // The customer stays, so its old (blanked) records stay listed with it: they are kept with it, not erased.
  // They are held as long as the customer is, so they count from the newest kept record, not their own date.
  const heldUntilFrom = newestKept ?? customerAt!;
  for (const l of lingering) {
    tally.add(l.kind, heldUntilFrom, l.fields);
    if (l.wrote) erased -= 1;
  }
  const redaction = redactionOf("customer", customer, true);
  if (Object.keys(redaction.params).length) await writer.update("customer", customer.id, redaction.params, key("customer.update.kept", customer.id), ctx);
  // The customer is held as long as the newest record kept with it.
  tally.add("customer", newestKept ?? customerAt!, redaction.fields);
  return erased;
}
