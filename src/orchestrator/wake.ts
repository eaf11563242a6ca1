import { createHmac, timingSafeEqual } from "node:crypto";
import dgram from "node:dgram";
import { isIP } from "node:net";
import type { DataSource } from "typeorm";
import { isMysql } from "../db/dataSource";
import type { Logger } from "../logger";

/**
 * Wake-ups across processes. Whatever makes work runnable now (an approval, a retried task, a released
 * hold) wakes the worker of its own process at once; a worker in another process would find that work
 * only at its next poll (DSR_WORKER_POLL_MS, 500 ms by default), most of a single request's wall time.
 * So on MySQL each worker process listens on a UDP port and lists itself in `wake_endpoints`, and a
 * process that made work runnable sends each listed worker one datagram, signed with the service secret.
 *
 * A wake only makes a worker look for work now, the look it would make at its next poll: a lost
 * datagram costs at most one poll interval, a forged or replayed one nothing but that look, and a
 * signature that does not verify is dropped unread. SQLite runs in one process: no channel there.
 */

/** What a wake datagram starts with: the format, so another version's datagrams are told apart. */
const PREFIX = "dsr-wake/1";
/** How old (or far ahead) a datagram's time may be: senders' clocks are not the database's. */
const MAX_SKEW_MS = 60_000;
/** A listed worker not seen for this long is not sent to (it has stopped or lost the database). */
export const ENDPOINT_STALE_SECONDS = 30;
/** How often a listener says it is still there (well inside ENDPOINT_STALE_SECONDS). */
const REFRESH_MS = 10_000;
/** How long a sender keeps the list of workers before reading it again. */
const ENDPOINTS_TTL_MS = 1_000;

const mac = (secret: string, text: string) => createHmac("sha256", secret).update(text, "utf8").digest("hex").slice(0, 32);

/** The datagram that wakes the service's workers, signed with its secret. */
export function wakeDatagram(secret: string, now = Date.now()): Buffer {
  const text = `${PREFIX} ${now}`;
  return Buffer.from(`${text} ${mac(secret, text)}`, "latin1");
}

/** Whether `datagram` is a wake signed with `secret` whose time is within MAX_SKEW_MS of `now`. */
export function isWake(secret: string, datagram: Buffer, now = Date.now()): boolean {
  if (datagram.length > 128) return false;
  const [prefix, at, signature, ...rest] = datagram.toString("latin1").split(" ");
  if (prefix !== PREFIX || rest.length || !/^\d{1,15}$/.test(at ?? "") || !/^[0-9a-f]{32}$/.test(signature ?? "")) return false;
  if (Math.abs(now - Number(at)) > MAX_SKEW_MS) return false;
  return timingSafeEqual(Buffer.from(mac(secret, `${prefix} ${at}`), "latin1"), Buffer.from(signature, "latin1"));
}

const socketFor = (host: string) => dgram.createSocket(isIP(host) === 6 ? "udp6" : "udp4");

export interface WakeListenerOptions {
  ds: DataSource;
  secret: string;
  logger: Logger;
  /** The listed worker (one row per worker process). */
  workerId: string;
  /** Address the socket binds (DSR_WAKE_HOST). */
  host: string;
  /** Port it binds; 0 takes a free one (DSR_WAKE_PORT). */
  port: number;
  /** Address other processes send to (DSR_WAKE_ADVERTISE_HOST; the bound address when not set). */
  advertiseHost: string;
  /** Called for each wake that verifies. */
  onWake(): void;
}

/** A worker's end of the channel: its socket and its row in wake_endpoints, kept fresh until close(). */
export class WakeListener {
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly options: WakeListenerOptions,
    private readonly socket: dgram.Socket,
    /** The port it listens on. */
    readonly port: number,
  ) {}

  /** Binds the socket and lists the worker; on SQLite there is nothing to listen for (undefined). */
  static async start(options: WakeListenerOptions): Promise<WakeListener | undefined> {
    if (!isMysql(options.ds)) return undefined;
    const socket = socketFor(options.host);
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: options.host, port: options.port, exclusive: true }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", (error) => options.logger.warn({ err: error }, "wake listener: socket error"));
    socket.on("message", (datagram) => {
      if (isWake(options.secret, datagram)) options.onWake();
    });
    socket.unref();
    const listener = new WakeListener(options, socket, socket.address().port);
    try {
      await listener.list();
    } catch (error) {
      socket.close();
      throw error;
    }
    listener.timer = setInterval(() => {
      listener.list().catch((error) => options.logger.warn({ err: error }, "wake listener: could not refresh its row in wake_endpoints (other processes wake it only by polling meanwhile)"));
    }, REFRESH_MS).unref();
    return listener;
  }

  /** Writes (or refreshes) the worker's row, on the database's clock, and drops rows of workers long gone. */
  private async list(): Promise<void> {
    const { ds, workerId, advertiseHost } = this.options;
    await ds.query(
      "INSERT INTO wake_endpoints (workerId, host, port, seenAt) VALUES (?, ?, ?, CURRENT_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE host = VALUES(host), port = VALUES(port), seenAt = CURRENT_TIMESTAMP(3)",
      [workerId, advertiseHost, this.port],
    );
    await ds.query(`DELETE FROM wake_endpoints WHERE seenAt < CURRENT_TIMESTAMP(3) - INTERVAL ${ENDPOINT_STALE_SECONDS * 10} SECOND`);
  }

  /** Stops listening and takes the worker off the list (a worker that crashed ages out instead). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    await this.options.ds.query("DELETE FROM wake_endpoints WHERE workerId = ?", [this.options.workerId]).catch((error) => this.options.logger.warn({ err: error }, "wake listener: could not remove its row"));
  }
}

interface Endpoint {
  workerId: string;
  host: string;
  port: number;
}

/**
 * The sending end: a function that wakes every worker listed in wake_endpoints, but `self` (woken in
 * its own process). It returns at once; sending happens after, and a failure is logged, never thrown
 * (the worker finds the work at its next poll). On SQLite it does nothing.
 */
export function wakeSender(ds: DataSource, secret: string, logger: Logger, self: () => string | undefined = () => undefined): (() => void) & { close(): void } {
  /** One socket per address family (udp4, udp6), made when first needed. */
  const sockets = new Map<boolean, dgram.Socket>();
  let cached: { at: number; endpoints: Promise<Endpoint[]> } | undefined;
  const endpoints = () => {
    if (!cached || performance.now() - cached.at > ENDPOINTS_TTL_MS) {
      const read = ds
        .query(`SELECT workerId, host, port FROM wake_endpoints WHERE seenAt >= CURRENT_TIMESTAMP(3) - INTERVAL ${ENDPOINT_STALE_SECONDS} SECOND`)
        .then((rows: Endpoint[]) => rows.map((r) => ({ workerId: r.workerId, host: r.host, port: Number(r.port) })));
      cached = { at: performance.now(), endpoints: read };
      read.catch(() => (cached = undefined));
    }
    return cached.endpoints;
  };
  const socket = (host: string) => {
    const v6 = isIP(host) === 6;
    let s = sockets.get(v6);
    if (!s) {
      s = socketFor(host);
      s.on("error", (error) => logger.debug({ err: error }, "wake sender: socket error"));
      s.unref();
      sockets.set(v6, s);
    }
    return s;
  };
  const send = Object.assign(
    () => {
      if (!isMysql(ds)) return;
      endpoints()
        .then((list) => {
          const datagram = wakeDatagram(secret);
          for (const e of list) if (e.workerId !== self()) socket(e.host).send(datagram, e.port, e.host, (error) => error && logger.debug({ err: error }, "wake sender: datagram not sent"));
        })
        .catch((error) => logger.warn({ err: error }, "wake sender: could not read wake_endpoints (workers in other processes find the work at their next poll)"));
    },
    {
      close: () => {
        for (const s of sockets.values()) s.close();
        sockets.clear();
      },
    },
  );
  return send;
}
