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
  /** Answers to lose (loseAnswers): `times` more, to a statement like `then` sent after one like `after` on the same connection. */
  private lose?: { after: RegExp; then: RegExp; times: number };
  /** How many answers were lost. */
  lost = 0;

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
      // Lost answers: after a statement like `lose.after`, the server's answer to the next `lose.then`
      // (a COMMIT) never reaches the client, whose connection is cut once the server has answered it.
      let armed = false;
      let dropAnswer = false;
      client.on("data", (chunk: Buffer) => {
        const text = chunk.toString("latin1");
        if (this.lose && this.lose.times > 0 && this.lose.after.test(text)) armed = true;
        if (armed && this.lose && this.lose.times > 0 && this.lose.then.test(text)) {
          armed = false;
          dropAnswer = true;
          this.lose.times--;
          this.lost++;
        }
        upstream.write(chunk);
      });
      upstream.on("data", (chunk: Buffer) => {
        if (!dropAnswer) return void client.write(chunk);
        client.resetAndDestroy();
        upstream.destroy();
      });
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

  /**
   * Loses the server's answer to the next `times` statements like `then` (a COMMIT) that follow one like
   * `after` (the UPDATE it commits) on a connection: the server has done it, the client sees its
   * connection cut (a network blip, a failover, right after the commit).
   */
  loseAnswers(after: RegExp, then: RegExp, times = 1): void {
    this.lose = { after, then, times };
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
