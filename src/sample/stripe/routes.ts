import { Collection, StripeObject } from "./seed";
import { StripeStore } from "./store";
import { applyUpdate, createdFilter, invalid, listPage, missing, Params } from "./wire";

/** One endpoint of the stand-in: Express path, whether it writes, and what it answers. */
export interface Endpoint {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** Parameters it takes besides `expand`; any other is a 400, as at Stripe. */
  params: readonly string[];
  handle(store: StripeStore, params: Params, path: Record<string, string>): unknown;
}

const PAGING = ["limit", "starting_after", "ending_before"];
const now = () => Math.floor(Date.now() / 1000);

function live(store: StripeStore, name: Collection, id: string, what: string): StripeObject {
  const o = store.get(name, id);
  if (!o || o.deleted) throw missing(what, id);
  return o;
}

/** Objects of a collection belonging to one customer (all of them when no customer is given), created when `created` says. */
function ofCustomer(store: StripeStore, name: Collection, params: Params): StripeObject[] {
  const when = createdFilter(params);
  const all = store.all(name).filter(when);
  return params.customer === undefined ? all : all.filter((o) => o.customer === params.customer);
}

const retrieve = (name: Collection, what: string): Endpoint => ({
  method: "GET",
  path: `/v1/${name}s/:id`,
  params: [],
  handle: (store, _params, { id }) => live(store, name, id, what),
});

const update = (name: Collection, what: string, fields: readonly string[]): Endpoint => ({
  method: "POST",
  path: `/v1/${name}s/:id`,
  params: fields,
  handle: (store, params, { id }) => store.put(applyUpdate(live(store, name, id, what), params) as StripeObject, `${name}.update`),
});

/**
 * A list page, with `expand[]=data.customer` answered as Stripe does: each object's customer id
 * replaced by the customer (a deleted one as its `{ id, object, deleted: true }` stub).
 */
function customersExpanded(store: StripeStore, page: Record<string, unknown>, params: Params): Record<string, unknown> {
  const expand = params.expand === undefined ? [] : Array.isArray(params.expand) ? params.expand : typeof params.expand === "object" ? Object.values(params.expand as object) : [params.expand];
  if (!expand.includes("data.customer")) return page;
  const data = (page.data as StripeObject[]).map((o) => (typeof o.customer === "string" ? { ...o, customer: store.get("customer", o.customer) ?? o.customer } : o));
  return { ...page, data };
}

const listByCustomer = (name: Collection, what: string, extra: readonly string[] = [], filter = (_o: StripeObject, _p: Params) => true): Endpoint => ({
  method: "GET",
  path: `/v1/${name}s`,
  params: ["customer", "created", ...PAGING, ...extra],
  handle: (store, params) =>
    customersExpanded(
      store,
      listPage(
        `/v1/${name}s`,
        ofCustomer(store, name, params).filter((o) => filter(o, params)),
        params,
        what,
      ),
      params,
    ),
});

/** Stripe lists subscriptions that are not canceled unless `status` says otherwise (`all` for every one). */
function subscriptionStatus(o: StripeObject, params: Params): boolean {
  const status = params.status ?? "active";
  if (status === "all") return true;
  if (status === "active") return o.status !== "canceled" && o.status !== "incomplete_expired";
  return o.status === status;
}

/**
 * Stripe's Search API over one collection, for one field by exact value (ignoring case, as Stripe
 * compares emails): customers by `email`, charges by `billing_details.email` (a guest's payment,
 * which has no customer). Pages through `page` tokens as Stripe does.
 */
function searchBy(collection: "customer" | "charge", field: string, path: string) {
  const pattern = new RegExp(`^\\s*${field.replace(/\./g, "\\.")}\\s*:\\s*(['"])(.*)\\1\\s*$`);
  const valueOf = (o: StripeObject) => field.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), o);
  return (store: StripeStore, params: Params): Record<string, unknown> => {
    const match = typeof params.query === "string" ? pattern.exec(params.query) : null;
    if (!match) throw invalid(`This stand-in searches ${collection}s by ${field} only: query=${field}:'someone@example.com'`, "query", "search_query_invalid");
    // Inside quotes a backslash escapes the next character (`\'` a quote, `\\` a backslash), as in Stripe's search syntax.
    const wanted = match[2].replace(/\\(.)/g, "$1").toLowerCase();
    const found = store.all(collection).filter((o) => !o.deleted && store.searchable(o) && typeof valueOf(o) === "string" && (valueOf(o) as string).toLowerCase() === wanted);
    const limit = params.limit === undefined ? 10 : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid("Invalid integer: limit must be between 1 and 100", "limit");
    const offset = params.page === undefined ? 0 : Number(Buffer.from(String(params.page), "base64url").toString());
    if (!Number.isInteger(offset) || offset < 0) throw invalid("Invalid page token", "page");
    const end = offset + limit;
    const hasMore = end < found.length;
    return { object: "search_result", data: found.slice(offset, end), has_more: hasMore, next_page: hasMore ? Buffer.from(String(end)).toString("base64url") : null, url: path };
  };
}

function deleteCustomer(store: StripeStore, id: string): Record<string, unknown> {
  live(store, "customer", id, "customer");
  // As at Stripe: deleting a customer detaches its payment methods and cancels its subscriptions.
  for (const pm of store.all("payment_method").filter((o) => o.customer === id)) store.put({ ...pm, customer: null }, "payment_method.detach");
  for (const sub of store.all("subscription").filter((o) => o.customer === id && o.status !== "canceled")) {
    store.put({ ...sub, status: "canceled", canceled_at: now() }, "subscription.cancel");
  }
  return store.put({ id, object: "customer", deleted: true }, "customer.delete");
}

/**
 * Events, newest first (Stripe lists 30 days of them), by `type` or `types` (up to 20; not both) and
 * `created`. Stripe's events are written with the change itself: unlike search, no index lags.
 */
const listEvents: Endpoint = {
  method: "GET",
  path: "/v1/events",
  params: ["type", "types", "created", "delivery_success", ...PAGING],
  handle: (store, params) => {
    if (params.type !== undefined && params.types !== undefined) throw invalid("You may pass either type or types, but not both.", "types");
    const types = params.types === undefined ? undefined : Array.isArray(params.types) ? params.types.map(String) : typeof params.types === "object" && params.types ? Object.values(params.types).map(String) : [String(params.types)];
    if (types && types.length > 20) throw invalid("types takes at most 20 event types", "types");
    const wanted = (type: string) => (types ? types.includes(type) : params.type === undefined || params.type === type);
    const when = createdFilter(params);
    const events = [...store.events].reverse().filter((e) => wanted(e.type) && when(e as unknown as StripeObject));
    return listPage("/v1/events", events as unknown as StripeObject[], params, "event");
  },
};

/** Every endpoint, in matching order (`/v1/customers/search` before `/v1/customers/:id`). */
export const ENDPOINTS: readonly Endpoint[] = [
  listEvents,
  {
    method: "GET",
    path: "/v1/customers",
    params: ["email", "created", ...PAGING],
    handle: (store, params) =>
      listPage(
        "/v1/customers",
        store.all("customer").filter(createdFilter(params)).filter((c) => !c.deleted && (params.email === undefined || c.email === params.email)),
        params,
        "customer",
      ),
  },
  { method: "GET", path: "/v1/customers/search", params: ["query", "limit", "page"], handle: searchBy("customer", "email", "/v1/customers/search") },
  {
    method: "GET",
    path: "/v1/customers/:id",
    params: [],
    handle: (store, _params, { id }) => {
      const c = store.get("customer", id);
      // A deleted customer is still retrievable, as a stub saying so.
      if (!c) throw missing("customer", id);
      return c;
    },
  },
  update("customer", "customer", ["address", "description", "email", "metadata", "name", "phone", "shipping"]),
  { method: "DELETE", path: "/v1/customers/:id", params: [], handle: (store, _params, { id }) => deleteCustomer(store, id) },
  {
    method: "GET",
    path: "/v1/customers/:id/payment_methods",
    params: ["type", ...PAGING],
    handle: (store, params, { id }) => {
      live(store, "customer", id, "customer");
      const pms = store.all("payment_method").filter((o) => o.customer === id && (params.type === undefined || o.type === params.type));
      return listPage(`/v1/customers/${id}/payment_methods`, pms, params, "payment_method");
    },
  },
  listByCustomer("payment_method", "payment_method", ["type"], (o, p) => p.type === undefined || o.type === p.type),
  retrieve("payment_method", "PaymentMethod"),
  update("payment_method", "PaymentMethod", ["billing_details", "metadata"]),
  {
    method: "POST",
    path: "/v1/payment_methods/:id/detach",
    params: [],
    handle: (store, _params, { id }) => {
      const pm = live(store, "payment_method", id, "PaymentMethod");
      if (!pm.customer) throw invalid("The payment method you provided is not attached to a customer so detachment is impossible.", undefined, "payment_method_unexpected_state");
      return store.put({ ...pm, customer: null }, "payment_method.detach");
    },
  },
  listByCustomer("charge", "charge"),
  { method: "GET", path: "/v1/charges/search", params: ["query", "limit", "page"], handle: (store, params) => customersExpanded(store, searchBy("charge", "billing_details.email", "/v1/charges/search")(store, params), params) },
  retrieve("charge", "charge"),
  update("charge", "charge", ["description", "metadata", "receipt_email", "shipping"]),
  listByCustomer("invoice", "invoice", ["status"], (o, p) => p.status === undefined || o.status === p.status),
  retrieve("invoice", "invoice"),
  update("invoice", "invoice", ["description", "footer", "metadata"]),
  listByCustomer("subscription", "subscription", ["status"], subscriptionStatus),
  retrieve("subscription", "subscription"),
  update("subscription", "subscription", ["description", "metadata"]),
  {
    // Checkout Sessions by customer or by the email the buyer typed (customer_details[email], compared
    // exactly: the stand-in takes the strict reading of Stripe's filter).
    method: "GET",
    path: "/v1/checkout/sessions",
    params: ["customer", "customer_details", "created", ...PAGING],
    handle: (store, params) => {
      const details = params.customer_details as Params | undefined;
      if (details !== undefined && (typeof details !== "object" || typeof details.email !== "string")) throw invalid("customer_details must be a hash with an email", "customer_details");
      const email = details?.email;
      const sessions = ofCustomer(store, "checkout_session", params).filter((o) => email === undefined || (o.customer_details as Params | null | undefined)?.email === email);
      return customersExpanded(store, listPage("/v1/checkout/sessions", sessions, params, "checkout.session"), params);
    },
  },
  listByCustomer("payment_intent", "payment_intent"),
  retrieve("payment_intent", "payment_intent"),
  update("payment_intent", "payment_intent", ["description", "metadata", "receipt_email", "shipping"]),
  { method: "GET", path: "/v1/checkout/sessions/:id", params: [], handle: (store, _params, { id }) => live(store, "checkout_session", id, "checkout.session") },
  {
    method: "POST",
    path: "/v1/checkout/sessions/:id",
    params: ["metadata"],
    handle: (store, params, { id }) => store.put(applyUpdate(live(store, "checkout_session", id, "checkout.session"), params) as StripeObject, "checkout_session.update"),
  },
  {
    // Disputes by the charge or PaymentIntent disputed (Stripe lists no dispute by customer or email).
    method: "GET",
    path: "/v1/disputes",
    params: ["charge", "payment_intent", ...PAGING],
    handle: (store, params) =>
      listPage(
        "/v1/disputes",
        store.all("dispute").filter((o) => (params.charge === undefined || o.charge === params.charge) && (params.payment_intent === undefined || o.payment_intent === params.payment_intent)),
        params,
        "dispute",
      ),
  },
  retrieve("dispute", "dispute"),
  {
    // As at Stripe: evidence is submitted to the bank as it changes, and takes no change once the
    // dispute is past needing a response; metadata changes at any time.
    method: "POST",
    path: "/v1/disputes/:id",
    params: ["evidence", "metadata", "submit"],
    handle: (store, params, { id }) => {
      const dispute = live(store, "dispute", id, "dispute");
      if (params.evidence !== undefined && !["needs_response", "warning_needs_response"].includes(String(dispute.status))) {
        throw invalid(`This dispute is ${String(dispute.status)}: its evidence can no longer be changed.`, "evidence");
      }
      const updated = applyUpdate(dispute, params) as StripeObject;
      delete updated.submit;
      return store.put(params.evidence !== undefined && params.submit !== "false" ? { ...updated, status: "under_review" } : updated, "dispute.update");
    },
  },
  {
    method: "DELETE",
    path: "/v1/subscriptions/:id",
    params: ["invoice_now", "prorate"],
    handle: (store, _params, { id }) => {
      const sub = live(store, "subscription", id, "subscription");
      if (sub.status === "canceled") throw invalid("A canceled subscription can only update its cancellation_details and metadata.", undefined, "resource_missing");
      return store.put({ ...sub, status: "canceled", canceled_at: now() }, "subscription.cancel");
    },
  },
];
