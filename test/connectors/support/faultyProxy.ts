import net from "node:net";

/**
 * A TCP proxy on loopback in front of a real server, which a test can break: break() resets every open
 * connection and every new one (the client sees ECONNRESET) until heal(). It stands in for a network
 * blip or a database failover.
 */
export class FaultyProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private broken = false;
  /** The port to connect to instead of the target's. */
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens on a free loopback port (then in `port`). */
  async start(): Promise<this> {
    this.server = net.createServer((client) => {
      client.on("error", () => undefined);
      if (this.broken) {
        client.resetAndDestroy();
        return;
      }
      const upstream = net.connect(this.target);
      upstream.on("error", () => client.destroy());
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
      }
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Resets open connections and refuses new ones until heal(). */
  break(): void {
    this.broken = true;
    for (const s of this.sockets) s.resetAndDestroy();
  }

  /** Lets connections through again. */
  heal(): void {
    this.broken = false;
  }

  async stop(): Promise<void> {
    this.break();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
