import { Command, Option } from "commander";
import type TableType from "cli-table3";

/** A table to print; cli-table3 is loaded when a command prints one (the CLI starts without it). */
export const newTable = (options: ConstructorParameters<typeof TableType>[0]) => new (require("cli-table3") as typeof TableType)(options);
import { RequestStatus, RequestType, TERMINAL_STATUSES } from "./domain/enums";

/** A failure the CLI reports as one line with its exit code (see EXIT in cli.ts). */
export class RemoteFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Where the service is and who we are: flags first, then DSR_URL / DSR_TOKEN. */
interface Remote {
  url: string;
  token: string;
}

const TERMINAL = new Set<string>(TERMINAL_STATUSES);

export function remoteOf(opts: { url?: string; token?: string }): Remote {
  const url = opts.url ?? process.env.DSR_URL ?? "http://127.0.0.1:4000/graphql";
  const token = opts.token ?? process.env.DSR_TOKEN;
  if (!token) throw new RemoteFailure("a token is needed: pass --token or set DSR_TOKEN (dsr token create --role ADMIN --name <you>)", "BAD_USER_INPUT");
  return { url, token };
}

/**
 * `raw` as an http(s) URL. Refused (BAD_USER_INPUT, exit 2) without repeating it, as every refusal is:
 * what an operator passes may hold a password (`user:password@`) or a download link's signature, and a
 * CLI's stderr ends up in shell histories, CI logs and tickets.
 */
export function httpUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RemoteFailure(`${what} is not a URL; give one that starts with http:// or https://`, "BAD_USER_INPUT");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new RemoteFailure(`${what} must start with http:// or https://`, "BAD_USER_INPUT");
  if (url.username || url.password) throw new RemoteFailure(`${what} may not hold a user name or password (user:password@); the service takes a bearer token (--token or DSR_TOKEN)`, "BAD_USER_INPUT");
  return url;
}

/** A whole-number option in `min..max`; anything else is BAD_USER_INPUT (exit 2) naming the option, not what was given. */
export function wholeNumber(raw: string, option: string, min: number, max: number): number {
  const n = /^\d{1,12}$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new RemoteFailure(`${option} must be a whole number from ${min} to ${max}`, "BAD_USER_INPUT");
  return n;
}

/** How often a command that waits asks the service, in ms. */
export const pollInterval = (raw: string) => wholeNumber(raw, "--interval", 100, 3_600_000);

/** One GraphQL call; an error answer becomes a RemoteFailure carrying the service's code and message. */
export async function call<T>(remote: Remote, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const at = httpUrl(remote.url, "--url (or DSR_URL)");
  let res: Response;
  try {
    res = await fetch(at, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${remote.token}` }, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    // fetch wraps the socket error (sometimes one per address tried): its code is what an operator can act on.
    const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause;
    throw new RemoteFailure(`cannot reach the service at ${at.origin}${at.pathname} (${cause?.code ?? cause?.errors?.[0]?.code ?? (error as Error).message})`, "UNREACHABLE");
  }
  const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  if (body.errors?.length) throw new RemoteFailure(body.errors[0].message, body.errors[0].extensions?.code ?? "INTERNAL_SERVER_ERROR");
  if (!body.data) throw new RemoteFailure(`the service answered HTTP ${res.status} without data`, "INTERNAL_SERVER_ERROR");
  return body.data;
}

const TASK_FIELDS = "id connector step status attempts lastError note";
const SHOW = `query Show($id: ID!) { request(id: $id) { id type status statusReason receivedAt dueAt overdue tasks { ${TASK_FIELDS} } progress { total finished failed fraction } notSearched { connector category recordType reason } } }`;

interface Shown {
  id: string;
  type: string;
  status: string;
  statusReason: string | null;
  receivedAt: string;
  dueAt: string;
  overdue: boolean;
  tasks: Array<{ id: string; connector: string; step: string; status: string; attempts: number; lastError: string | null; note: string | null }>;
  progress: { total: number; finished: number; failed: number; fraction: number };
  notSearched: Array<{ connector: string; category: string; recordType: string; reason: string }>;
}

/** The kinds of record the request's connectors could not search for, one line each (none: nothing). */
function notSearchedLines(r: Shown): string[] {
  return r.notSearched.length ? ["not searched (may hold the subject's data; see the request's notSearched):", ...r.notSearched.map((n) => `  ${n.connector} ${n.recordType} (${n.category}): ${n.reason}`)] : [];
}

function taskTable(tasks: Shown["tasks"]): string {
  const table = newTable({ head: ["connector", "step", "status", "attempts", "note / last error"], style: { head: [], border: [] } });
  for (const t of tasks) table.push([t.connector, t.step, t.status, String(t.attempts), t.lastError ?? t.note ?? ""]);
  return table.toString();
}

export const print = (text: string): void => void process.stdout.write(`${text}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const withRemote = (command: Command) =>
  command.option("--url <url>", "GraphQL endpoint of the service (default: DSR_URL, or http://127.0.0.1:4000/graphql)").option("--token <token>", "bearer token (default: DSR_TOKEN)");

/** `dsr request submit|list|show|watch`: operate requests on a running service over GraphQL. */
export function addRequestCommands(cli: Command): void {
  const request = cli.command("request").description("submit, list, show and watch requests on a running service (over GraphQL)");

  withRemote(request.command("submit").description("submit a request; prints its id"))
    .addOption(new Option("--type <type>", "what the subject asks for").choices(Object.values(RequestType)).makeOptionMandatory())
    .requiredOption("--email <email>", "the subject's email")
    .option("--phone <phone>", "the subject's phone (E.164)")
    .option("--user-id <id>", "the subject's user id in the platform")
    .option("--verified <evidence>", "the identity is already verified, and how (skips the emailed code)")
    .action(async (opts: { type: string; email: string; phone?: string; userId?: string; verified?: string; url?: string; token?: string }) => {
      const input = {
        type: opts.type,
        subject: { email: opts.email, ...(opts.phone ? { phone: opts.phone } : {}), ...(opts.userId ? { userId: opts.userId } : {}) },
        ...(opts.verified ? { identityVerified: true, verificationEvidence: opts.verified } : {}),
      };
      const data = await call<{ submitRequest: { id: string; status: string; dueAt: string } }>(
        remoteOf(opts),
        `mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id status dueAt } }`,
        { input },
      );
      process.stderr.write(`submitted: ${data.submitRequest.status}, due ${data.submitRequest.dueAt}\n`);
      print(data.submitRequest.id);
    });

  withRemote(request.command("list").description("list requests, soonest due first"))
    .option("--status <status...>", `only these statuses (${Object.values(RequestStatus).join(", ")})`)
    .option("--type <type...>", "only these types")
    .option("--overdue", "only overdue requests")
    .option("--first <n>", "how many (1-100)", "20")
    .option("--json", "print JSON")
    .action(async (opts: { status?: string[]; type?: string[]; overdue?: boolean; first: string; json?: boolean; url?: string; token?: string }) => {
      const filter = { ...(opts.status ? { status: opts.status } : {}), ...(opts.type ? { type: opts.type } : {}), ...(opts.overdue ? { overdue: true } : {}) };
      const data = await call<{ requests: { totalCount: number; edges: Array<{ node: { id: string; type: string; status: string; dueAt: string; overdue: boolean } }> } }>(
        remoteOf(opts),
        `query List($first: Int!, $filter: RequestFilterInput) { requests(first: $first, filter: $filter) { totalCount edges { node { id type status dueAt overdue } } } }`,
        { first: wholeNumber(opts.first, "--first", 1, 100), filter },
      );
      const rows = data.requests.edges.map((e) => e.node);
      if (opts.json) return print(JSON.stringify(rows, null, 2));
      const table = newTable({ head: ["id", "type", "status", "due", "overdue"], style: { head: [], border: [] } });
      for (const r of rows) table.push([r.id, r.type, r.status, r.dueAt.slice(0, 10), r.overdue ? "yes" : ""]);
      print(table.toString());
      print(`${rows.length} of ${data.requests.totalCount}`);
    });

  withRemote(request.command("show").description("show one request and its tasks"))
    .argument("<id>", "request id")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean; url?: string; token?: string }) => {
      const { request: r } = await call<{ request: Shown }>(remoteOf(opts), SHOW, { id });
      if (opts.json) return print(JSON.stringify(r, null, 2));
      print(`${r.id}  ${r.type}  ${r.status}${r.statusReason ? ` (${r.statusReason})` : ""}  due ${r.dueAt}${r.overdue ? "  OVERDUE" : ""}`);
      print(r.tasks.length ? taskTable(r.tasks) : "no tasks yet (tasks are planned when the request is approved)");
      for (const line of notSearchedLines(r)) print(line);
    });

  withRemote(request.command("watch").description("follow a request's tasks with a progress bar until it ends, then print a summary"))
    .argument("<id>", "request id")
    .option("--interval <ms>", "how often to ask the service", "500")
    .action(async (id: string, opts: { interval: string; url?: string; token?: string }) => {
      const remote = remoteOf(opts);
      const interval = pollInterval(opts.interval);
      // The bar goes to stderr (stdout keeps the summary, for pipes); noTTYOutput draws it in CI logs too.
      const { SingleBar } = require("cli-progress") as typeof import("cli-progress");
      const bar = new SingleBar({ format: "{bar} {value}/{total} tasks | {status}", stream: process.stderr, noTTYOutput: true, notTTYSchedule: interval, hideCursor: true });
      let started = false;
      let r: Shown;
      for (;;) {
        r = (await call<{ request: Shown }>(remote, SHOW, { id })).request;
        if (!started) bar.start(Math.max(r.progress.total, 1), r.progress.finished, { status: r.status });
        started = true;
        bar.setTotal(Math.max(r.progress.total, 1));
        bar.update(r.progress.finished, { status: r.status });
        if (TERMINAL.has(r.status)) break;
        await sleep(interval);
      }
      bar.stop();
      print(`${r.id}  ${r.type}  ${r.status}${r.statusReason ? ` (${r.statusReason})` : ""}`);
      if (r.tasks.length) print(taskTable(r.tasks));
      for (const line of notSearchedLines(r)) print(line);
      if (r.status !== "COMPLETED") process.exitCode = 1;
    });
}
