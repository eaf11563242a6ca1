import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import Stripe from "stripe";
import { emailCaseSpellings, emailSpellings, normalizeEmail } from "../../domain/identities";
import { Connector, ConnectorError, ConnectorSpec, ErasureInstruction, ErasureOutcome, Identities, LookedUpRecord, NotSearchedRecords, raceAbort, RecordRef, RosterContext, RosterEntry, SubjectRecord, TaskContext } from "../sdk";
import { withInlineRetry } from "../inlineRetry";
import { linkedToSubject, ReachedById, refuseOtherAccountById } from "../accountLink";
import { isForbidden, isMissing, Operation, stopped, toConnectorError } from "./errors";
import { KeptTally } from "../keptTally";
import { eraseCustomer, eraseDispute, eraseGuestObjects, ResidueTally, StripeWriter, ToRedact } from "./erasure";
import { resolveStripeOptions, StripeConnectorOptions } from "./options";
import { customerEmailOf, deletedCustomerOf, GuestFoundKind, guestEmailOf, invoiceEmailOf, isRedacted, ListKind, listsOf, personalFields, StripeKind, StripeThing, toRecord, typedEmailOf } from "./records";
import { accountTag, rosterOf, RosterSource } from "./roster";
import { pollRedaction, RedactionApi, RedactionJob, Redactor } from "./redactionJobs";

/** The Stripe connector: a Connector with erase, plus close() for its keep-alive connections. */
export interface StripeConnector extends Connector {
  erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome>;
  poll(reference: string, ctx: TaskContext): Promise<ErasureOutcome>;
  lookup(refs: readonly RecordRef[], ctx: TaskContext): AsyncIterable<LookedUpRecord>;
  listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry>;
  /** Ends the connections it keeps open to Stripe. */
  close(): Promise<void>;
}

const VERSION = "1.0.0";

type Ctx = Pick<TaskContext, "signal" | "logger"> & Partial<Pick<TaskContext, "heartbeat">>;

/** The orchestrator withdrew PAYMENTS from the running erasure (a legal hold): stop writing. */
class Withdrawn extends Error {}
type Page = { data: StripeThing[]; has_more: boolean; next_page?: string | null };

/** What a guest leaves at Stripe without a customer, in the order collect and erase read them. */
const GUEST_KINDS = ["charge", "dispute", "invoice", "checkout_session", "payment_intent"] as const;
type GuestKind = (typeof GUEST_KINDS)[number];

/** Why collect passed over a customer with the subject's address (accountMetadataKey). */
const OTHER_ACCOUNT =
  "a customer with the subject's address that the platform tagged as another account's (its accountMetadataKey names another user id, or the subject's user id is not known): a customer's email is whatever was typed into it, so that customer was not read";

/** Why collect could not look for customers changed lately (the events a restricted key may not read). */
const EVENTS_REFUSED =
  "a customer whose address was changed to the subject's within searchLagMs: Stripe's search index may not have the new address yet, and the API key may not read the events that name such customers (grant the restricted key read access to events)";

/** What check says of a key that may not read events (collect would name such customers in notSearched at every request). */
const EVENTS_CHECK =
  "Stripe API reachable and the API key is accepted, but it may not read events: customers whose address was changed to a subject's within searchLagMs would go unfound (Stripe's search index lags behind changes, and their customer.updated events name them). Grant the restricted key read access to events, or set searchLagMs to 0 to accept the gap";

/** The customer the account database gives, when the platform tagged it as another account's (accountMetadataKey). */
const CUSTOMER_BY_ID: ReachedById = { thing: "payment customer", system: "Stripe", link: "its accountMetadataKey", id: "customer id", data: "payments", kind: "paymentCustomerId" };

/** Why collect passed over a charge or Checkout Session that carries the subject's address under someone else's customer. */
const UNDER_OTHER_CUSTOMER =
  "a payment or checkout that carries the subject's address (billing or buyer email) under a customer not found as theirs (its email is another address or none, or it is tagged for another account): read as that customer's, so neither exported nor erased; check it in Stripe";

/** Escapes a value for Stripe's search query language (single-quoted strings). */
const quoted = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/**
 * A payment-processor connector on the official `stripe` SDK (host, port and protocol configurable).
 * Finds the subject's customers by paymentCustomerId and by email; streams each customer, its
 * payment methods (brand, last 4, expiry), charges, invoices, subscriptions, Checkout Sessions and
 * PaymentIntents page by page, and the disputes of disputed charges, then what the subject left as a
 * guest (charges and Checkout Sessions with no customer, found by the email they carry, their disputes
 * and their PaymentIntents); erases under the 7-year rule (see erasure.ts); lists everyone the account
 * holds for a breach roster (see roster.ts). The SDK's own retries are off: a call that fails for a
 * passing reason is repeated inline (`retries`, after Retry-After), then the orchestrator retries the
 * task; every write carries an idempotency key derived from the task's, so a repeat writes once.
 */
export function createStripeConnector(options: StripeConnectorOptions): StripeConnector {
  const o = resolveStripeOptions(options);
  const name = o.name;
  const agent = o.protocol === "http" ? new HttpAgent({ keepAlive: true }) : new HttpsAgent({ keepAlive: true });
  const stripe = new Stripe(o.apiKey, {
    host: o.host,
    port: o.port,
    protocol: o.protocol,
    timeout: o.timeoutMs,
    maxNetworkRetries: 0,
    telemetry: false,
    httpAgent: agent,
    appInfo: { name: "dsr-service" },
  });

  /**
   * One API call: stops promptly on ctx.signal and turns every failure into a ConnectorError, except
   * "no such object", which `onMissing` answers when given. A passing failure is repeated inline (every
   * call is safe to repeat: reads, and writes with an idempotency key).
   */
  function call<T>(op: Operation, ctx: Ctx, work: () => Promise<T>, onMissing?: () => T): Promise<T> {
    return repeated(op, ctx, () => once(op, ctx, work, onMissing));
  }

  async function once<T>(op: Operation, ctx: Ctx, work: () => Promise<T>, onMissing?: () => T): Promise<T> {
    try {
      // The Stripe SDK cannot be cancelled: an abandoned call runs on, unobserved.
      return await raceAbort(work, ctx.signal, () => stopped(name, op, ctx.signal));
    } catch (error) {
      if (onMissing && isMissing(error)) return onMissing();
      throw toConnectorError(error, name, op);
    }
  }

  /** Tries `attempt` again inline while it fails for a passing reason (see withInlineRetry). */
  function repeated<T>(op: Operation, ctx: Ctx, attempt: () => Promise<T>): Promise<T> {
    return withInlineRetry(attempt, {
      retries: o.retries,
      maxWaitMs: o.maxInlineWaitMs,
      signal: ctx.signal,
      stopped: () => stopped(name, op, ctx.signal),
      heartbeat: ctx.heartbeat && (() => ctx.heartbeat!()),
      onRetry: (n, waitMs, error) => ctx.logger.debug({ connector: name, op, attempt: n, waitMs, internal: error.internalMessage }, "Stripe call repeated"),
    });
  }

  /**
   * Every object of a paged list, one page in memory at a time. `after` picks the cursor from a page
   * once its objects were handled (erase detaches some, and a detached object is no cursor).
   */
  async function* paged(op: Operation, ctx: Ctx, fetch: (cursor?: string) => Promise<Page>, after = (page: StripeThing[]) => page.at(-1)?.id): AsyncGenerator<StripeThing> {
    let cursor: string | undefined;
    for (;;) {
      const page = await call(op, ctx, () => fetch(cursor));
      for (const item of page.data) yield item;
      // A page may hold none of the subject's and still have more after it (the events of other customers' changes).
      if (!page.has_more || (page.data.length === 0 && !page.next_page)) return;
      cursor = page.next_page ?? after(page.data) ?? cursor;
      await ctx.heartbeat?.();
    }
  }

  const limit = o.pageSize;
  const lists: Record<ListKind, (customer: string, cursor?: string) => Promise<Page>> = {
    payment_method: (customer, cursor) => stripe.customers.listPaymentMethods(customer, { limit, starting_after: cursor }) as unknown as Promise<Page>,
    charge: (customer, cursor) => stripe.charges.list({ customer, limit, starting_after: cursor }) as unknown as Promise<Page>,
    invoice: (customer, cursor) => stripe.invoices.list({ customer, limit, starting_after: cursor }) as unknown as Promise<Page>,
    subscription: (customer, cursor) => stripe.subscriptions.list({ customer, status: "all", limit, starting_after: cursor }) as unknown as Promise<Page>,
    checkout_session: (customer, cursor) => stripe.checkout.sessions.list({ customer, limit, starting_after: cursor }) as unknown as Promise<Page>,
    payment_intent: (customer, cursor) => stripe.paymentIntents.list({ customer, limit, starting_after: cursor }) as unknown as Promise<Page>,
  };

  /**
   * A charge's disputes (chargebacks, with the evidence sent to the bank). Only a charge that says it
   * was disputed is asked: one call per disputed charge, none for the others.
   */
  async function* disputesOf(charge: StripeThing, op: Operation, ctx: Ctx): AsyncGenerator<StripeThing> {
    if (charge.disputed !== true) return;
    yield* paged(op, ctx, (cursor) => stripe.disputes.list({ charge: charge.id, limit, starting_after: cursor }) as unknown as Promise<Page>);
  }

  /**
   * The subject's live customers: the one with the given id (the account's), and every one with the
   * email (a guest checkout makes a customer of its own, linked to no account). With `deletedToo`, a
   * deleted customer with the given id is yielded as well (erase finishes its leftovers).
   */
  async function* customersOf(ids: Identities, op: Operation, ctx: Ctx, deletedToo = false, otherAccount?: () => void, eventsRefused?: () => void): AsyncGenerator<StripeThing> {
    const seen = new Set<string>();
    const id = ids.paymentCustomerId;
    if (id) {
      const customer = (await call(op, ctx, () => stripe.customers.retrieve(id) as Promise<unknown>, () => undefined)) as StripeThing | undefined;
      // The account database says the customer is the subject's, the platform's tag at Stripe that it is
      // another account's: neither can be taken over the other, so nothing is read or erased by it.
      if (customer && !customer.deleted) refuseOtherAccountById(tagOf(customer), ids, name, op, CUSTOMER_BY_ID);
      if (customer && (deletedToo || !customer.deleted)) {
        seen.add(customer.id);
        yield customer;
      }
    }
    // Search matches email case-insensitively; the list filter is case-sensitive, so it is asked for the
    // address as normalized and in upper case (what systems that change case store). Either is asked
    // for each spelling of the domain (an internationalised one in Unicode and in ASCII). Search lags
    // behind writes (Stripe: usually under a minute, up to an hour in an outage; not for
    // read-after-write), so a customer a checkout made just before the request would go unfound by it,
    // and a deletion's check after erasing would not find it either: with search, the list filter is
    // asked too, which reads the customers themselves, and so are the customers created within
    // searchLagMs (the filter matches case exactly, and a fresh `Ada@Example.com` is in neither).
    // Nor is an older customer whose address was changed to the subject's within searchLagMs (the index
    // still holds the old one, and the list has no filter by when a customer changed): the events of
    // customer updates in that window name them (recentlyChanged).
    // Every hit is confirmed in normalized form: the subject is whoever has the same address, and
    // nobody else.
    // Every such customer is the subject's (a guest checkout makes one each time): past
    // maxCustomersPerEmail the look-up fails rather than hand back only some of them, which would
    // export part of the person or leave customers behind an erasure reported done.
    const email = normalizeEmail(ids.email);
    const listed = emailCaseSpellings(email).map((spelling) => (cursor?: string) => stripe.customers.list({ email: spelling, limit, starting_after: cursor }) as unknown as Promise<Page>);
    const searched =
      o.emailLookup === "search"
        ? emailSpellings(email).map((spelling) => (cursor?: string) => stripe.customers.search({ query: `email:${quoted(spelling)}`, limit, page: cursor }) as unknown as Promise<Page>)
        : [];
    const lookups = [
      ...searched,
      ...recentlyCreated((since, cursor) => stripe.customers.list({ created: { gte: since }, limit, starting_after: cursor }) as unknown as Promise<Page>),
      ...recentlyCreated((since, cursor) => recentlyChanged(email, since, cursor, eventsRefused)),
      ...listed,
    ];
    for (const byEmail of lookups) {
      for await (const customer of paged(op, ctx, byEmail)) {
        if (customerEmailOf(customer) !== email || seen.has(customer.id)) continue;
        if (!ownAccount(customer, ids)) {
          otherAccount?.();
          continue;
        }
        seen.add(customer.id);
        if (seen.size > o.maxCustomersPerEmail) {
          throw new ConnectorError(
            `${name}: more than ${o.maxCustomersPerEmail} Stripe customers have the subject's address, so the ${op === "erase" ? "erasure stopped before it erased" : "collect stopped rather than export"} only some of them. Check by hand that they are one person's, then raise the connector's maxCustomersPerEmail`,
            `${name} ${op}: over maxCustomersPerEmail (${o.maxCustomersPerEmail}) customers by email`,
            false,
          );
        }
        yield customer;
      }
    }
  }

  /**
   * Whether a customer found by the subject's address may be theirs: untagged (a guest checkout's), or
   * tagged with the subject's own user id (accountMetadataKey). Without the option, every one may.
   */
  const ownAccount = (customer: StripeThing, ids: Identities): boolean => linkedToSubject(tagOf(customer), ids);

  /** The user id the platform tagged the customer with (accountMetadataKey); null when untagged or without the option. */
  const tagOf = (customer: StripeThing): string | null => (o.accountMetadataKey ? accountTag(customer, o.accountMetadataKey) : null);

  /**
   * With search, one look-up (a page fetcher) of every object of a kind created within searchLagMs:
   * what the lagging search index may not hold yet, read from the objects themselves. Its bound is set
   * once, so its pages follow one list. None without search (or with searchLagMs 0).
   */
  /** Whether collect reads what searchLagMs covers (objects created, customers changed lately): with search only. */
  const readsRecent = o.emailLookup === "search" && o.searchLagMs > 0;
  const recentlyCreated = (fetch: (since: number, cursor?: string) => Promise<Page>): ((cursor?: string) => Promise<Page>)[] => {
    if (!readsRecent) return [];
    const since = Math.floor((Date.now() - o.searchLagMs) / 1000);
    return [(cursor) => fetch(since, cursor)];
  };

  /**
   * One page of the customers changed since `since` (Unix seconds) whose address is now the subject's:
   * Stripe writes a `customer.updated` event with every change (listed for 30 days, not through the
   * lagging search index), each carrying the customer as it was then. A customer some event shows with
   * the address is read again as it is now (a later change may have moved it on, or it was deleted);
   * the page's cursor is its last event's id.
   */
  async function recentlyChanged(email: string, since: number, cursor?: string, refused?: () => void): Promise<Page> {
    // A restricted key without read access to events: these customers go unfound, and collect says so.
    const events = (await stripe.events.list({ types: ["customer.updated"], created: { gte: since }, limit, starting_after: cursor }).catch((error: unknown) => {
      if (!isForbidden(error)) throw error;
      refused?.();
      return { data: [], has_more: false };
    })) as unknown as { data: { id: string; data: { object: StripeThing } }[]; has_more: boolean };
    const named = [...new Set(events.data.map((e) => e.data.object).filter((c) => customerEmailOf(c) === email).map((c) => c.id))];
    const now: StripeThing[] = [];
    for (const id of named) {
      const customer = (await stripe.customers.retrieve(id).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)))) as StripeThing | undefined;
      if (customer && !customer.deleted) now.push(customer);
    }
    return { data: now, has_more: events.has_more && events.data.length > 0, next_page: events.data.at(-1)?.id ?? null };
  }

  /** The look-ups (page fetchers) a guest's objects of each kind are found by. */
  const guestLookups: Record<GuestFoundKind, (email: string) => ((cursor?: string) => Promise<Page>)[]> = {
    charge: (email) => [
      ...(o.emailLookup === "search" ? emailSpellings(email) : []).map(
        (spelling) => (cursor?: string) => stripe.charges.search({ query: `billing_details.email:${quoted(spelling)}`, limit, page: cursor, expand: ["data.customer"] }) as unknown as Promise<Page>,
      ),
      ...recentlyCreated((since, cursor) => stripe.charges.list({ created: { gte: since }, limit, starting_after: cursor, expand: ["data.customer"] }) as unknown as Promise<Page>),
    ],
    checkout_session: (email) =>
      emailCaseSpellings(email).map(
        (spelling) => (cursor?: string) => stripe.checkout.sessions.list({ customer_details: { email: spelling }, limit, starting_after: cursor, expand: ["data.customer"] }) as unknown as Promise<Page>,
      ),
  };

  /**
   * What the subject did as a guest, with no customer: charges (payments whose billing email is the
   * subject's; a checkout that made no customer) and Checkout Sessions (whose customer details carry
   * the email the buyer typed). Charges are found through the Search API for each spelling of the
   * address (the list filter has no such search: with emailLookup "list" there are none to find);
   * sessions through the list filter on customer_details[email], asked for each case spelling as the
   * customer list is. Every hit is confirmed in normalized form. Objects with a customer are read under
   * it.
   */
  async function* guestObjectsOf(kind: GuestFoundKind, ids: Identities, op: Operation, ctx: Ctx, customers: ReadonlySet<string>, elsewhere?: (kind: GuestFoundKind) => void): AsyncGenerator<StripeThing> {
    const email = normalizeEmail(ids.email);
    const seen = new Set<string>();
    /** Objects under someone else's customer already said (several look-ups can return one). */
    const passed = new Set<string>();
    for (const fetch of guestLookups[kind](email)) {
      for await (const item of paged(op, ctx, fetch)) {
        // The subject's address under a live customer that is not one of theirs: passed over, and said.
        const owner = typeof item.customer === "string" ? item.customer : (item.customer as { id?: unknown } | null | undefined)?.id;
        if (elsewhere && typeof owner === "string" && !deletedCustomerOf(item) && !customers.has(owner) && typedEmailOf(kind, item) === email && !isRedacted(kind, item) && !passed.has(item.id)) {
          passed.add(item.id);
          elsewhere(kind);
        }
        if (guestEmailOf(kind, item) !== email || seen.has(item.id) || customers.has(deletedCustomerOf(item) ?? "")) continue;
        seen.add(item.id);
        yield item;
      }
    }
  }

  /**
   * Everything the subject left as a guest: charges (each followed by its disputes), Checkout Sessions,
   * the invoices made out to the subject's address under a deleted customer those were found under,
   * then the PaymentIntents those name that have no customer (a PaymentIntent carries no email to
   * search by, so one that no charge or session names is not found; docs/connectors.md).
   */
  async function* guestsOf(ids: Identities, op: Operation, ctx: Ctx, customers: ReadonlySet<string>, elsewhere?: (kind: GuestFoundKind) => void): AsyncGenerator<{ kind: GuestKind; item: StripeThing }> {
    // Each PaymentIntent named, with the deleted customer (if any) of what named it.
    const intents = new Map<string, string | undefined>();
    /** Deleted customers (by hand) the guest look-ups met: the ids no search by email leads to. */
    const gone = new Set<string>();
    for (const kind of ["charge", "checkout_session"] as const) {
      for await (const item of guestObjectsOf(kind, ids, op, ctx, customers, elsewhere)) {
        if (typeof item.payment_intent === "string") intents.set(item.payment_intent, deletedCustomerOf(item));
        const deleted = deletedCustomerOf(item);
        if (deleted) gone.add(deleted);
        yield { kind, item };
        if (kind === "charge") for await (const dispute of disputesOf(item, op, ctx)) yield { kind: "dispute", item: dispute };
      }
    }
    // A deleted customer's invoices name the buyer (name, email, address) as its charges do, and no
    // search finds them: those made out to the subject's address are theirs, as a charge billed to it
    // is. Another address's invoice under the same customer is not read.
    const email = normalizeEmail(ids.email);
    for (const customer of gone) {
      for await (const invoice of paged(op, ctx, (cursor) => lists.invoice(customer, cursor))) {
        if (invoiceEmailOf(invoice) !== email || isRedacted("invoice", invoice)) continue;
        yield { kind: "invoice", item: invoice };
      }
    }
    for (const [id, gone] of intents) {
      const intent = await objectById("payment_intent", id, op, ctx);
      await ctx.heartbeat?.();
      if (!intent || (intent.customer && intent.customer !== gone) || isRedacted("payment_intent", intent)) continue;
      yield { kind: "payment_intent", item: intent };
    }
  }

  /**
   * What the subject may have at Stripe that collect (and so erase) has no way to look for with these
   * identities and options; the request, its export and its certificate name each kind
   * (NotSearchedRecords). See docs/connectors.md for each.
   */
  const notSearchedFor = (ids: Identities): NotSearchedRecords[] => {
    const set = (type: string, reason: string): NotSearchedRecords => ({ category: "PAYMENTS", type, reason });
    if (!ids.email) {
      const reason = "payments made as a guest (no customer) are found by email only, and the subject's email was not known to this connector";
      return [set("charge", reason), set("checkout_session", reason), set("payment_intent", reason)];
    }
    return [
      ...(o.emailLookup === "list"
        ? [
            set("charge", 'payments made as a guest (no customer) are found by their billing email through Stripe\'s Search API, which this connector does not use (emailLookup "list"; set it to "search")'),
            set("customer", 'customers whose email is stored in mixed case: without Stripe\'s Search API (emailLookup "list") the lookup matches case exactly, and asks for the address in lower and in upper case only'),
          ]
        : []),
      set("checkout_session", "a guest's Checkout Session whose email was typed in mixed case: Stripe's filter on the buyer's email matches case exactly, and is asked for the address in lower and in upper case only"),
      set("payment_intent", "a guest's PaymentIntent that no charge or Checkout Session names (such as an abandoned checkout): Stripe cannot search PaymentIntents by email"),
    ];
  };

  /** The note of a customer's delete unit (no personal data: Stripe's id of the customer, and how many records its delete erases). */
  const deleteNote = (id: string, records: number) => `stripe-customer-delete:${id}:${records}`;
  /** A delete unit's note (`counted` once a later attempt counted it, keeping the customer's id for the attempts after). */
  const DELETE_NOTE = /^stripe-customer-(delete|counted):([A-Za-z0-9_]{1,255}):(\d{1,9})$/;

  /** Per erase call: payment methods detached in the customer being erased (what a withdrawn erasure of it did erase). */
  const detachedNow = new WeakMap<TaskContext, number>();
  /**
   * Each write is one unit of erasure; a withdrawn one stops the erasure (see erase). `erases`: the
   * records a unit that went well took out of what collect finds (a detached card, a deleted customer
   * with its subscriptions), kept by the orchestrator with the unit's end: a retry of a failed attempt
   * no longer finds them to count them. Writes that leave the object listed count nothing here: a
   * retry finds the object again and counts it itself.
   */
  const unit = async <T>(ctx: TaskContext, work: () => Promise<T>, erases = 0, note?: string, supersedes?: string): Promise<T> => {
    let result!: T;
    const done = async () => {
      result = await work();
      return erases;
    };
    if (!(await ctx.eraseUnit("PAYMENTS", done, note, supersedes ? { supersedes } : undefined))) throw new Withdrawn();
    return result;
  };
  /**
   * One write: a unit of its own for each try, so a hold placed while a failed try waits to be repeated
   * stops the erasure there, and no unit holds a hold placement back through the waits.
   */
  const write = <T>(ctx: TaskContext, work: () => Promise<T>, onMissing?: () => T, then?: () => void, erases = 0, note?: string): Promise<T> => {
    const tryOnce = () =>
      unit(
        ctx,
        async () => {
          const result = await once("erase", ctx, work, onMissing);
          then?.();
          return result;
        },
        erases,
        note,
      );
    return repeated("erase", ctx, tryOnce);
  };

  const writer: StripeWriter = {
    update: (kind, id, params, key, ctx) => {
      const opts = { idempotencyKey: key };
      const work = {
        customer: () => stripe.customers.update(id, params, opts),
        payment_method: () => stripe.paymentMethods.update(id, params, opts),
        charge: () => stripe.charges.update(id, params, opts),
        invoice: () => stripe.invoices.update(id, params, opts),
        subscription: () => stripe.subscriptions.update(id, params, opts),
        checkout_session: () => stripe.checkout.sessions.update(id, params, opts),
        payment_intent: () => stripe.paymentIntents.update(id, params, opts),
        dispute: () => stripe.disputes.update(id, params, opts),
      }[kind] as () => Promise<unknown>;
      return write(ctx, work);
    },
    detach: (id, key, ctx) => write(ctx, () => stripe.paymentMethods.detach(id, {}, { idempotencyKey: key }), undefined, () => detachedNow.set(ctx, (detachedNow.get(ctx) ?? 0) + 1), 1),
    // A cancel is a DELETE, which Stripe binds to no idempotency key: repeated after its answer was
    // lost, it meets the subscription canceled and is refused. One that reads canceled now is done.
    cancel: (id, key, ctx) =>
      write(ctx, () =>
        stripe.subscriptions.cancel(id, {}, { idempotencyKey: key }).catch(async (error: unknown) => {
          const now = await stripe.subscriptions.retrieve(id).catch(() => undefined);
          if (now?.status === "canceled") return now;
          throw error;
        }),
      ),
    // The unit's note names the customer: if the process dies before the
    // unit ends, the next attempt reads the deleted customer by it (no search by email finds one) and finishes it.
    deleteCustomer: (id, key, ctx, records) => write(ctx, () => stripe.customers.del(id, {}, { idempotencyKey: key }) as Promise<unknown>, () => undefined, undefined, records, deleteNote(id, records)),
    list: (kind, customer, ctx, after) => paged("erase", ctx, (cursor) => lists[kind](customer, cursor), after),
    disputes: (charge, ctx) => disputesOf(charge, "erase", ctx),
  };

  const retrieve: Record<StripeKind, (id: string) => Promise<unknown>> = {
    customer: (id) => stripe.customers.retrieve(id),
    payment_method: (id) => stripe.paymentMethods.retrieve(id),
    charge: (id) => stripe.charges.retrieve(id),
    invoice: (id) => stripe.invoices.retrieve(id),
    subscription: (id) => stripe.subscriptions.retrieve(id),
    checkout_session: (id) => stripe.checkout.sessions.retrieve(id),
    payment_intent: (id) => stripe.paymentIntents.retrieve(id),
    dispute: (id) => stripe.disputes.retrieve(id),
  };
  /** One object by id, whatever became of its customer; undefined when Stripe has no such object. */
  const objectById = async (kind: StripeKind, id: string, op: Operation, ctx: Ctx): Promise<StripeThing | undefined> =>
    (await call(op, ctx, () => retrieve[kind](id), () => undefined)) as StripeThing | undefined;

  const versioned = o.redactionApiVersion ? { apiVersion: o.redactionApiVersion } : {};
  const jobs = "/v1/privacy/redaction_jobs";
  const redaction: RedactionApi = {
    create: (objects, key, ctx) => call("erase", ctx, () => stripe.rawRequest("POST", jobs, { objects }, { idempotencyKey: key, ...versioned }) as Promise<RedactionJob>),
    retrieve: (id, ctx) => call("erase", ctx, () => stripe.rawRequest("GET", `${jobs}/${encodeURIComponent(id)}?expand[]=objects`, null as never, versioned) as Promise<RedactionJob>),
    run: (id, key, ctx) => call("erase", ctx, () => stripe.rawRequest("POST", `${jobs}/${encodeURIComponent(id)}/run`, {}, { idempotencyKey: key, ...versioned }) as Promise<RedactionJob>),
    cancel: (id, key, ctx) => call("erase", ctx, () => stripe.rawRequest("POST", `${jobs}/${encodeURIComponent(id)}/cancel`, {}, { idempotencyKey: key, ...versioned }) as Promise<RedactionJob>),
    validationErrors: async (id, ctx) => {
      const page = (await call("erase", ctx, () => stripe.rawRequest("GET", `${jobs}/${encodeURIComponent(id)}/validation_errors?limit=100`, null as never, versioned))) as { data: RedactionJob[] };
      return page.data as never;
    },
    list: (ctx) =>
      paged("erase", ctx, (cursor) => stripe.rawRequest("GET", `${jobs}?limit=100&expand[]=data.objects${cursor ? `&starting_after=${encodeURIComponent(cursor)}` : ""}`, null as never, versioned) as Promise<Page>) as AsyncIterable<RedactionJob>,
    object: (kind, id, ctx) => objectById(kind, id, "erase", ctx),
  };

  const noMore: Page = { data: [], has_more: false };
  const accountLists: Record<"customer" | GuestFoundKind, (cursor?: string) => Promise<Page>> = {
    customer: (cursor) => stripe.customers.list({ limit, starting_after: cursor }) as unknown as Promise<Page>,
    // Each with its customer: one deleted by hand leaves these with the buyer's details (roster.ts).
    charge: (cursor) => stripe.charges.list({ limit, starting_after: cursor, expand: ["data.customer"] }) as unknown as Promise<Page>,
    checkout_session: (cursor) => stripe.checkout.sessions.list({ limit, starting_after: cursor, expand: ["data.customer"] }) as unknown as Promise<Page>,
  };

  /**
   * The pages of one of the account's whole lists. Each page starts after the last object of the one
   * before: if that object is gone meanwhile (an erasure deleted the customer), Stripe has nothing to
   * start after, and the roster starts over (a retryable error) rather than skip ahead past people.
   */
  const accountPages = (kind: keyof typeof accountLists) => (cursor?: string) =>
    accountLists[kind](cursor).catch((error: unknown) => {
      if (cursor === undefined || !isMissing(error)) throw error;
      throw new ConnectorError(`${name}: a Stripe object the roster was paging from was removed meanwhile; the roster will be retried`, `${name} roster: the ${kind} list's cursor is gone`, true);
    });

  /** What the roster reads, through the same calls (inline repeats, abort, error mapping) as collect. */
  const rosterSource = (ctx: RosterContext): RosterSource => ({
    customers: () => paged("roster", ctx, accountPages("customer")),
    everyOne: (kind) => paged("roster", ctx, accountPages(kind)),
    // A customer deleted since it was listed has no payment methods left to list (Stripe: no such customer).
    list: (kind, customer) => paged("roster", ctx, (cursor) => lists[kind](customer, cursor).catch((error: unknown) => (isMissing(error) && !cursor ? noMore : Promise.reject(error)))),
    disputes: (charge) => disputesOf(charge, "roster", ctx),
    heartbeat: () => ctx.heartbeat(),
  });

  const spec: ConnectorSpec = {
    name,
    version: VERSION,
    supports: ["access", "erasure"],
    needs: ["paymentCustomerId", "email"],
    needsAny: true,
    provides: [],
    categories: ["PAYMENTS"],
  };

  return {
    spec,

    async check(ctx) {
      try {
        await call("check", ctx, () => stripe.customers.list({ limit: 1 }));
        // Collect reads customer.updated events to find customers changed within searchLagMs: a restricted
        // key without read access to events would pass here and miss them at every collect.
        if (readsRecent) {
          const events = () => stripe.events.list({ types: ["customer.updated"], limit: 1 }).then(() => false, (error: unknown) => (isForbidden(error) ? true : Promise.reject(error)));
          const refused = await call("check", ctx, events);
          if (refused) return { ok: false, message: `${name}: ${EVENTS_CHECK}` };
        }
        return { ok: true, message: `${name}: Stripe API reachable at ${o.host}:${o.port} and the API key is accepted` };
      } catch (error) {
        const failure = toConnectorError(error, name, "check");
        ctx.logger.warn({ connector: name, detail: failure.internalMessage }, "Stripe check failed");
        return { ok: false, message: `${failure.userMessage} (${o.protocol}://${o.host}:${o.port})` };
      }
    },

    async *collect(ids, ctx): AsyncGenerator<SubjectRecord> {
      for (const set of notSearchedFor(ids)) ctx.notSearched?.(set);
      let count = 0;
      const customers = new Set<string>();
      const otherAccount = () => ctx.notSearched?.({ category: "PAYMENTS", type: "customer", reason: OTHER_ACCOUNT });
      const eventsRefused = () => ctx.notSearched?.({ category: "PAYMENTS", type: "customer", reason: EVENTS_REFUSED });
      for await (const customer of customersOf(ids, "collect", ctx, true, otherAccount, eventsRefused)) {
        customers.add(customer.id);
        // A deleted customer is no record, but what it leaves under its id is.
        if (!customer.deleted) {
          count += 1;
          yield toRecord("customer", customer);
        }
        for (const kind of listsOf(customer)) {
          for await (const item of paged("collect", ctx, (cursor) => lists[kind](customer.id, cursor))) {
            // A redacted charge's disputes keep their evidence: they are read all the same.
            if (kind === "charge") {
              for await (const dispute of disputesOf(item, "collect", ctx)) {
                count += 1;
                yield toRecord("dispute", dispute, customer.id);
              }
            }
            // A redacted object no longer holds anything of the subject.
            if (isRedacted(kind, item)) continue;
            count += 1;
            yield toRecord(kind, item, customer.id);
          }
        }
      }
      const elsewhere = (kind: GuestFoundKind) => ctx.notSearched?.({ category: "PAYMENTS", type: kind, reason: UNDER_OTHER_CUSTOMER });
      for await (const { kind, item } of guestsOf(ids, "collect", ctx, customers, elsewhere)) {
        count += 1;
        yield toRecord(kind, item);
      }
      ctx.logger.info({ connector: name, records: count }, "Stripe records collected");
    },

    async erase(ids, instruction, ctx) {
      if (!instruction.categories.includes("PAYMENTS")) return { erased: 0 };
      const since = instruction.keepRecordedSince?.PAYMENTS;
      // A Date, or its ISO text when the instruction travelled through JSON.
      const keepSince = since === undefined ? undefined : new Date(since);
      if (keepSince && Number.isNaN(keepSince.getTime())) throw new ConnectorError(`${name}: the erasure's retention date is invalid`, `${name} erase: keepRecordedSince.PAYMENTS is not a date`, false);
      // The customers are read first: deleting one while paging a search would shift the pages.
      const customers: StripeThing[] = [];
      for await (const customer of customersOf(ids, "erase", ctx, true)) customers.push(customer);
      // Customers an earlier attempt deleted and died before it could say so (its unit's note): found
      // by email no longer, they are read through their id, so the redaction jobs given their objects
      // before the delete are asked for again (the same key: the same jobs) and polled to their end.
      // What the delete erased (the note says how many records) is counted once, by a unit whose note
      // supersedes the dead attempt's: it says "counted" to the attempts after, and still names the customer.
      const uncounted = new Map<string, { records: number; note: string }>();
      for (const note of await ctx.unfinishedUnits()) {
        const [, state, id, records] = DELETE_NOTE.exec(note) ?? [];
        if (!id) continue;
        if (state === "counted") uncounted.delete(id);
        else if (!uncounted.has(id)) uncounted.set(id, { records: Number(records), note });
        if (customers.some((c) => c.id === id)) continue;
        const customer = await objectById("customer", id, "erase", ctx);
        // Not deleted after all (the call never reached Stripe): found as before, it is deleted as before.
        if (customer?.deleted) customers.push(customer);
        else uncounted.delete(id);
      }
      const guests = new Map<GuestKind, StripeThing[]>(GUEST_KINDS.map((kind) => [kind, []]));
      for await (const { kind, item } of guestsOf(ids, "erase", ctx, new Set(customers.map((c) => c.id)))) guests.get(kind)!.push(item);
      const tally = new KeptTally();
      const residue = new ResidueTally();
      const redactor = new Redactor(redaction, ctx);
      let erased = 0;
      const remote = () => {
        const work = redactor.remote(o.redactionPollMs);
        return work ? { remote: work } : {};
      };
      try {
        for (const [id, { records, note }] of uncounted) {
          // Counted only when deleted (a live one is deleted, and counted, by eraseCustomer as before).
          if (!customers.find((c) => c.id === id)?.deleted) continue;
          erased += await unit(ctx, async () => records, records, note.replace("stripe-customer-delete:", "stripe-customer-counted:"), note);
        }
        for (const customer of customers) {
          detachedNow.set(ctx, 0);
          erased += await eraseCustomer(customer, keepSince, tally, residue, writer, ctx, (items) => redactor.start(items, ctx), o.accountMetadataKey);
        }
        // No customer is being erased now: a withdrawal among a guest's objects detached nothing.
        detachedNow.set(ctx, 0);
        // A guest's charges and the invoices they paid go to redaction jobs together (a job redacting one touches the other).
        const billed: ToRedact[] = [];
        for (const [kind, items] of guests) {
          if (kind === "dispute") for (const dispute of items) erased += (await eraseDispute(dispute, keepSince, tally, residue, writer, ctx)).erased;
          else if (kind === "charge" || kind === "invoice") erased += await eraseGuestObjects(kind, items, keepSince, tally, writer, ctx, async (batch) => void billed.push(...batch));
          else erased += await eraseGuestObjects(kind, items, keepSince, tally, writer, ctx, (batch) => redactor.start(batch, ctx));
          if (kind === "invoice" && billed.length) await redactor.start(billed.splice(0), ctx);
        }
      } catch (error) {
        if (!(error instanceof Withdrawn)) throw error;
        // A customer being erased stays with its blanked records; only its detached payment methods left it.
        erased += detachedNow.get(ctx) ?? 0;
        ctx.logger.info({ connector: name, erased }, "the erasure was withdrawn; stopping here");
        return { erased, ...remote() };
      }
      const kept = tally.list();
      const residual = residue.list();
      ctx.logger.info({ connector: name, customers: customers.length, guestCharges: guests.get("charge")!.length, guestDisputes: guests.get("dispute")!.length, guestInvoices: guests.get("invoice")!.length, guestSessions: guests.get("checkout_session")!.length, guestPaymentIntents: guests.get("payment_intent")!.length, erased, kept: kept.map((k) => `${k.type}:${k.count}`), redactionJobs: redactor.jobs.length, waitingForJobs: redactor.waiting.length }, "Stripe erasure done");
      return {
        erased,
        ...(kept.length ? { kept } : {}),
        ...(residual.length ? { residual } : {}),
        ...remote(),
      };
    },

    poll: (reference, ctx) => pollRedaction(reference, redaction, ctx, o.redactionPollMs),

    async *lookup(refs, ctx) {
      for (const ref of refs) {
        const kind = ref.type as StripeKind;
        if (!(kind in retrieve)) continue;
        const found = await objectById(kind, ref.id, "collect", ctx);
        await ctx.heartbeat();
        if (!found || found.deleted) continue;
        yield { ...ref, personalFields: personalFields(kind, found) };
      }
    },

    async *listSubjects(ctx) {
      const counts = yield* rosterOf(rosterSource(ctx), o.accountMetadataKey);
      ctx.logger.info({ connector: name, ...counts }, "Stripe roster listed");
    },

    async close() {
      agent.destroy();
    },
  };
}
