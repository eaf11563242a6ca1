import http from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";

// dynalite ships no types: it returns an http.Server serving the DynamoDB API from memory.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite") as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => http.Server;

/** Credentials dynalite accepts (it checks their form, not their value). */
export const LOCAL_CREDENTIALS = { accessKeyId: "AKIDLOCAL", secretAccessKey: "local-secret" };
export const LOCAL_REGION = "us-east-1";

/** An error answer DynamoDB gives, e.g. 400 ProvisionedThroughputExceededException or 500 InternalServerError. */
export interface DynamoFaultAnswer {
  status: number;
  type: string;
}

/**
 * A fault for one DeleteItem (AuthLogDynamo.deleteFaults): when dynalite does it (`lands`: now, before
 * the answer; later, only once the next DeleteItem arrives, as a DynamoDB still working on it after the
 * read-back did; never) and what the client hears (`answer`): nothing (the connection held open until the
 * client closes it), its connection dropped, or an HTTP status with a gateway's plain-text body.
 */
export interface DeleteFault {
  lands: "now" | "later" | "never";
  answer: "none" | "drop" | number;
}

/** An item as DynamoDB's JSON protocol carries it (attribute name to typed value). */
type Item = Record<string, { S?: string }>;

const listen = (server: http.Server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
const close = (server: http.Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const read = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
};

/**
 * dynalite (in memory, on loopback) behind a small HTTP proxy that sees every call. The proxy records
 * each operation in order (so a test counts the Query calls the server saw), can answer every call with
 * a fault, and can make BatchWriteItem calls leave half their requests unprocessed, as a throttled
 * table does: the real server does the work, the proxy only withholds part of it.
 */
export class AuthLogDynamo {
  /** Every operation the server was asked for, in order (e.g. Query, BatchWriteItem). */
  readonly operations: string[] = [];
  /** While set, every call is answered with this fault. */
  fault?: DynamoFaultAnswer;
  /**
   * How many more delete calls are throttled: a BatchWriteItem leaves half its requests in
   * UnprocessedItems, a DeleteItem is refused with ProvisionedThroughputExceededException.
   */
  partialBatches = 0;
  /**
   * While above 0, every delete call (BatchWriteItem, DeleteItem) reaches dynalite this many ms after
   * it arrived, and is then done even if the client has given up on it meanwhile: a slow DynamoDB (or
   * network) does a write it received whether or not anyone still waits for the answer.
   */
  slowDeletesMs = 0;
  /**
   * How many more DeleteItem calls dynalite does and the proxy then answers 500 InternalServerError, as
   * DynamoDB may after a write it applied (the response lost, or an error after the write).
   */
  doneThenFailed = 0;
  /** Faults for the next DeleteItem calls, one each, in order (DeleteFault; null: none for that call). */
  readonly deleteFaults: Array<DeleteFault | null> = [];
  /** DeleteItem calls with a DeleteFault landing later, not yet done (each is done before the next DeleteItem goes on). */
  private lateDeletes: Array<() => Promise<unknown>> = [];
  /** While true, every second DeleteItem is refused with ProvisionedThroughputExceededException (a table throttled, yet progressing). */
  throttleEveryOtherDelete = false;
  /**
   * While above 0, every DeleteItem waits this long at the proxy before it goes to dynalite, and is
   * dropped if the client closed its connection meanwhile: a request DynamoDB had not begun when the
   * client took it back is never done, one whose connection is still open is done however late.
   */
  holdDeletesMs = 0;
  /** DeleteItem calls held (holdDeletesMs) that were dropped, their connection closed by the client. */
  droppedDeletes = 0;
  /** While set, calls of this operation get no answer until release() (a server that hangs). */
  stalled?: string;
  /**
   * While above 0, a Query or Scan that does not ask for strong consistency (`ConsistentRead: true`)
   * is answered as an eventually consistent read served by a replica this many ms behind: items put
   * through this proxy (proxyClient()) within the last `replicaLagMs` are left out, counts included.
   * DynamoDB documents that such reads may miss a write of the last second or so; dynalite itself
   * is always consistent, so without this no test could tell the two kinds of read apart.
   */
  replicaLagMs = 0;
  /** Read calls held by holdReads(), and of those, how many the client took back by closing their connection. */
  readonly heldReads = { held: 0, closedByClient: 0 };
  private readHold?: { operations: readonly string[]; pass: number; calls: number; matching: (input: Record<string, unknown>) => boolean };
  /** When each sort key (the fixture's `sk`) was last put through the proxy. */
  private readonly putAt = new Map<string, number>();
  private held: Array<() => void> = [];

  private constructor(
    private readonly server: http.Server,
    private readonly proxy: http.Server,
    private readonly serverPort: number,
    private readonly proxyPort: number,
  ) {}

  static async start(): Promise<AuthLogDynamo> {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const serverPort = await listen(server);
    let self: AuthLogDynamo | undefined;
    const proxy = http.createServer((req, res) => {
      self!.handle(req, res).catch((error: unknown) => res.writeHead(502).end(String(error)));
    });
    self = new AuthLogDynamo(server, proxy, serverPort, await listen(proxy));
    return self;
  }

  /** What the connector is pointed at: the proxy. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.proxyPort}`;
  }

  /** A client straight to dynalite (no proxy, no faults), for seeding and checking. */
  client(): DynamoDBClient {
    // A copy: the SDK marks the credentials object it is given (a `$source` field).
    return new DynamoDBClient({ endpoint: `http://127.0.0.1:${this.serverPort}`, region: LOCAL_REGION, credentials: { ...LOCAL_CREDENTIALS } });
  }

  /** A client through the proxy: its puts are what a lagging replica has not seen yet (replicaLagMs). */
  proxyClient(): DynamoDBClient {
    return new DynamoDBClient({ endpoint: this.endpoint, region: LOCAL_REGION, credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 });
  }

  /** How many calls of `operation` the server saw. */
  count(operation: string): number {
    return this.operations.filter((o) => o === operation).length;
  }

  /**
   * Holds the next `calls` read calls (of `operations`, `matching` their input, after letting `pass`
   * such calls through) unanswered, their connection open, until the client closes it: a DynamoDB (or a
   * proxy before it) that never answers. Unlike `stalled`, a held call is never answered; the calls
   * after them are. `holdReads(0)` stops holding and empties heldReads.
   */
  holdReads(calls: number, o: { operations?: readonly string[]; pass?: number; matching?: (input: Record<string, unknown>) => boolean } = {}): void {
    this.readHold = calls > 0 ? { operations: o.operations ?? ["Query", "Scan", "GetItem", "DescribeTable"], pass: o.pass ?? 0, calls, matching: o.matching ?? (() => true) } : undefined;
    this.heldReads.held = 0;
    this.heldReads.closedByClient = 0;
  }

  /** Answers the calls held while `stalled` was set (and stops holding new ones). */
  release(): void {
    this.stalled = undefined;
    for (const go of this.held.splice(0)) go();
  }

  async stop(): Promise<void> {
    this.release();
    this.proxy.closeAllConnections();
    await close(this.proxy);
    this.server.closeAllConnections();
    await close(this.server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await read(req);
    const operation = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
    this.operations.push(operation);
    if (operation === this.stalled) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.holdsRead(operation, body)) {
      this.heldReads.held += 1;
      await new Promise((resolve) => (req.socket.destroyed ? resolve(undefined) : req.socket.once("close", resolve)));
      this.heldReads.closedByClient += 1;
      return;
    }
    if (operation === "DeleteItem") {
      // A delete DynamoDB was still working on when the client heard back is done before the next one.
      for (const late of this.lateDeletes.splice(0)) await late().catch(() => undefined);
      const fault = this.deleteFaults.shift();
      if (fault) return this.faultDelete(fault, req, res, body);
    }
    if (this.holdDeletesMs > 0 && operation === "DeleteItem" && !(await this.stillConnected(req, this.holdDeletesMs))) {
      this.droppedDeletes += 1;
      return;
    }
    if (this.slowDeletesMs > 0 && (operation === "BatchWriteItem" || operation === "DeleteItem")) await new Promise((resolve) => setTimeout(resolve, this.slowDeletesMs));
    const everyOther = this.throttleEveryOtherDelete && operation === "DeleteItem" && this.count("DeleteItem") % 2 === 0;
    if (everyOther || (operation === "DeleteItem" && this.partialBatches > 0)) {
      if (!everyOther) this.partialBatches -= 1;
      const answer = JSON.stringify({ __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", message: "throttled by the test proxy" });
      res.writeHead(400, { "content-type": "application/x-amz-json-1.0", "content-length": Buffer.byteLength(answer) }).end(answer);
      return;
    }
    if (this.fault) {
      const answer = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${this.fault.type}`, message: "injected by the test proxy" });
      res.writeHead(this.fault.status, { "content-type": "application/x-amz-json-1.0", "content-length": Buffer.byteLength(answer) }).end(answer);
      return;
    }
    let forward = body;
    this.notePuts(operation, body);
    const stale = this.staleRead(operation, body);
    if (stale) forward = stale.forward;
    let withheld: { table: string; requests: unknown[] } | undefined;
    if (operation === "BatchWriteItem" && this.partialBatches > 0) {
      const parsed = JSON.parse(body.toString("utf8")) as { RequestItems: Record<string, unknown[]> };
      const [table, requests] = Object.entries(parsed.RequestItems)[0];
      if (requests.length > 1) {
        this.partialBatches -= 1;
        const half = Math.ceil(requests.length / 2);
        withheld = { table, requests: requests.slice(half) };
        parsed.RequestItems[table] = requests.slice(0, half);
        forward = Buffer.from(JSON.stringify(parsed));
      }
    }
    const upstream = await this.forward(req, forward);
    if (operation === "DeleteItem" && this.doneThenFailed > 0 && upstream.status === 200) {
      this.doneThenFailed -= 1;
      const failed = JSON.stringify({ __type: "com.amazonaws.dynamodb.v20120810#InternalServerError", message: "done, then failed, by the test proxy" });
      res.writeHead(500, { "content-type": "application/x-amz-json-1.0", "content-length": Buffer.byteLength(failed) }).end(failed);
      return;
    }
    let answer = upstream.body;
    const headers = { ...upstream.headers };
    if (withheld && upstream.status === 200) {
      const out = JSON.parse(answer.toString("utf8")) as { UnprocessedItems?: Record<string, unknown[]> };
      out.UnprocessedItems = { [withheld.table]: withheld.requests };
      answer = Buffer.from(JSON.stringify(out));
      // The SDK checks x-amz-crc32 when present: the rewritten body no longer matches dynalite's.
      delete headers["x-amz-crc32"];
    }
    if (stale && upstream.status === 200) {
      answer = stale.answer(answer);
      delete headers["x-amz-crc32"];
    }
    headers["content-length"] = String(answer.length);
    res.writeHead(upstream.status, headers).end(answer);
  }

  /** Does (now or later) and answers one DeleteItem as `fault` says. */
  private async faultDelete(fault: DeleteFault, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    if (fault.lands === "now") await this.forward(req, body);
    else if (fault.lands === "later") this.lateDeletes.push(() => this.forward(req, body));
    if (fault.answer === "drop") {
      req.socket.destroy();
    } else if (fault.answer === "none") {
      await new Promise((resolve) => (req.socket.destroyed ? resolve(undefined) : req.socket.once("close", resolve)));
    } else {
      const answer = `<html><body><h1>${fault.answer} Bad Gateway</h1></body></html>`;
      res.writeHead(fault.answer, { "content-type": "text/html", "content-length": Buffer.byteLength(answer) }).end(answer);
    }
  }

  /** Whether this call is one holdReads() holds (counting it against the hold). */
  private holdsRead(operation: string, body: Buffer): boolean {
    const hold = this.readHold;
    if (!hold || !hold.operations.includes(operation) || !hold.matching(JSON.parse(body.toString("utf8")) as Record<string, unknown>)) return false;
    if (hold.pass > 0) {
      hold.pass -= 1;
      return false;
    }
    if (hold.calls <= 0) return false;
    hold.calls -= 1;
    return true;
  }

  /** Waits `ms`, then says whether the client has kept the request's connection open meanwhile. */
  private async stillConnected(req: http.IncomingMessage, ms: number): Promise<boolean> {
    const socket = req.socket;
    let closed = socket.destroyed;
    const gone = () => (closed = true);
    socket.once("close", gone).once("end", gone);
    await new Promise((resolve) => setTimeout(resolve, ms));
    socket.off("close", gone).off("end", gone);
    return !closed;
  }

  private notePuts(operation: string, body: Buffer): void {
    if (operation !== "PutItem" && operation !== "BatchWriteItem") return;
    const parsed = JSON.parse(body.toString("utf8")) as { Item?: Item; RequestItems?: Record<string, Array<{ PutRequest?: { Item: Item } }>> };
    const items = operation === "PutItem" ? [parsed.Item] : Object.values(parsed.RequestItems ?? {}).flat().map((r) => r.PutRequest?.Item);
    for (const item of items) if (item?.sk?.S !== undefined) this.putAt.set(item.sk.S, Date.now());
  }

  /**
   * For an eventually consistent Query or Scan while replicaLagMs is set: the request to forward (a
   * COUNT asks for the sort keys instead, so that recent items can be left out of the count) and how to
   * rewrite dynalite's answer.
   */
  private staleRead(operation: string, body: Buffer): { forward: Buffer; answer(upstream: Buffer): Buffer } | undefined {
    if (this.replicaLagMs <= 0 || (operation !== "Query" && operation !== "Scan")) return undefined;
    const input = JSON.parse(body.toString("utf8")) as { ConsistentRead?: boolean; Select?: string; ProjectionExpression?: string; ExpressionAttributeNames?: Record<string, string> };
    if (input.ConsistentRead === true) return undefined;
    const counting = input.Select === "COUNT";
    if (counting) {
      delete input.Select;
      input.ProjectionExpression = "#staleSk";
      input.ExpressionAttributeNames = { ...input.ExpressionAttributeNames, "#staleSk": "sk" };
    }
    const since = Date.now() - this.replicaLagMs;
    return {
      forward: counting ? Buffer.from(JSON.stringify(input)) : body,
      answer: (upstream) => {
        const out = JSON.parse(upstream.toString("utf8")) as { Items?: Item[]; Count?: number };
        const seen = (out.Items ?? []).filter((item) => !((this.putAt.get(item.sk?.S ?? "") ?? 0) > since));
        if (counting) delete out.Items;
        else out.Items = seen;
        out.Count = seen.length;
        return Buffer.from(JSON.stringify(out));
      },
    };
  }

  private forward(req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        { host: "127.0.0.1", port: this.serverPort, method: req.method, path: req.url, headers: { ...req.headers, "content-length": String(body.length) } },
        (response) => {
          read(response).then((answer) => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: answer }), reject);
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    });
  }
}
