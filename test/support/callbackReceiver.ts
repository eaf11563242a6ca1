import http from "node:http";
import { AddressInfo } from "node:net";
import { verifyStatusCallback } from "../../src/callbacks/verify";
import type { StatusCallbackEvent } from "../../src/callbacks/outbox";

export const CALLBACK_SECRET = "test-callback-secret-0123456789";

/** One POST as it arrived: the raw body and headers, before any checking. */
export interface Delivery {
  body: string;
  signature: string;
  eventId: string;
  answered: number;
}

/**
 * The settings backend's callback endpoint on loopback: checks every signature with the exported
 * verifier, keeps the accepted events, and can be told to fail (HTTP 503) or drop the connection.
 */
export class CallbackReceiver {
  private server?: http.Server;
  readonly deliveries: Delivery[] = [];
  readonly accepted: StatusCallbackEvent[] = [];
  readonly refused: string[] = [];
  /** The next this-many POSTs answer 503. */
  failNext = 0;
  /** The Retry-After header those 503s carry, when set (as sent, valid or not). */
  retryAfter?: string;
  /** While true, connections are dropped without an answer, as if the receiver were down. */
  down = false;
  /** While true, POSTs are read but never answered (a receiver that hangs). */
  hang = false;
  /** POSTs left unanswered so far (while `hang`). */
  hung = 0;
  url = "";

  /** `now`: the service's clock, which the signatures are checked against. */
  constructor(private readonly now: () => Date) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (this.down) return void req.socket.destroy();
        if (this.hang) return void (this.hung += 1);
        const delivery = { body, signature: String(req.headers["dsr-signature"] ?? ""), eventId: String(req.headers["dsr-event-id"] ?? ""), answered: 0 };
        this.deliveries.push(delivery);
        const verdict = verifyStatusCallback(CALLBACK_SECRET, delivery.signature, body, this.now());
        if (!verdict.ok) {
          this.refused.push(verdict.reason);
          delivery.answered = 401;
        } else if (this.failNext > 0) {
          this.failNext -= 1;
          delivery.answered = 503;
        } else {
          this.accepted.push(verdict.event);
          delivery.answered = 204;
        }
        res.writeHead(delivery.answered, delivery.answered === 503 && this.retryAfter !== undefined ? { "retry-after": this.retryAfter } : {}).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/dsr-callbacks`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
