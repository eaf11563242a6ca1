import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import mysql from "mysql2/promise";
import { makeCertificates } from "./certificates";
import { tempDir } from "./databases";

const MARIADBD = "/usr/sbin/mariadbd";
const INSTALL_DB = "/usr/bin/mariadb-install-db";

/**
 * A MariaDB server of the test's own, on loopback, that speaks only TLS (require_secure_transport), with
 * a certificate for the name `localhost` issued by a CA the test makes (useCertificateFor switches to one
 * made out to another name): the shared
 * MariaDB at 127.0.0.1:3306 has TLS off, and other tests use it. Made with Debian's mariadb-install-db
 * and mariadbd (the packages CI installs) in a fresh folder, and stopped with SIGTERM; about 5 s.
 */
export class TlsMariadb {
  private constructor(
    readonly port: number,
    /** The CA that issued the server's certificate. */
    readonly caFile: string,
    /** Another CA, which issued nothing the server shows. */
    readonly strangerCaFile: string,
    private readonly server: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Whether this machine has the server binaries (CI installs them). */
  static available(): boolean {
    return fs.existsSync(MARIADBD) && fs.existsSync(INSTALL_DB);
  }

  /** `serverArgs`: more of mariadbd's options (a `--default-time-zone` other than UTC). */
  static async start(serverArgs: readonly string[] = []): Promise<TlsMariadb> {
    const dir = tempDir("dsr-tls-db-");
    const file = (name: string) => path.join(dir, name);
    const run = (command: string, args: string[]) => {
      const out = spawnSync(command, args, { cwd: dir, encoding: "utf8" });
      if (out.status !== 0) throw new Error(`${command} ${args[0]} failed (${out.status}): ${out.stderr.slice(-500)}`);
    };
    const certificates = makeCertificates(dir, ["localhost", "db.example.test"]);
    fs.copyFileSync(certificates.certFile("localhost"), file("server.pem"));
    fs.copyFileSync(certificates.keyFile("localhost"), file("server.key"));
    run(INSTALL_DB, ["--no-defaults", `--datadir=${file("data")}`, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"]);
    const port = await freePort();
    const server = spawn(
      MARIADBD,
      [
        "--no-defaults",
        `--datadir=${file("data")}`,
        "--user=root",
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--socket=${file("mysqld.sock")}`,
        `--pid-file=${file("mysqld.pid")}`,
        "--skip-log-bin",
        `--ssl-ca=${certificates.caFile}`,
        `--ssl-cert=${file("server.pem")}`,
        `--ssl-key=${file("server.key")}`,
        "--require-secure-transport=ON",
        ...serverArgs,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    server.stderr!.on("data", (chunk: Buffer) => (log = (log + chunk.toString("utf8")).slice(-2000)));
    const db = new TlsMariadb(port, certificates.caFile, certificates.strangerCaFile, server, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const c = await mysql.createConnection({ host: "localhost", port, user: "root", ssl: { ca: fs.readFileSync(db.caFile, "utf8") } });
        await c.query("CREATE DATABASE IF NOT EXISTS dsr");
        await c.end();
        return db;
      } catch (error) {
        if (server.exitCode !== null || Date.now() > deadline) {
          await db.stop();
          throw new Error(`the TLS MariaDB did not start: ${(error as Error).message}\n${log}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Makes the server show the certificate made out to `name` (localhost or db.example.test) from now on. */
  async useCertificateFor(name: "localhost" | "db.example.test"): Promise<void> {
    fs.copyFileSync(path.join(this.dir, `${name}.pem`), path.join(this.dir, "server.pem"));
    fs.copyFileSync(path.join(this.dir, `${name}.key`), path.join(this.dir, "server.key"));
    const c = await mysql.createConnection({ host: "localhost", port: this.port, user: "root", ssl: { ca: fs.readFileSync(this.caFile, "utf8") } });
    try {
      await c.query("FLUSH SSL");
    } finally {
      await c.end();
    }
  }

  /** DATABASE_URL of its `dsr` database on `host`, with these query parameters. */
  url(host: string, query: string): string {
    return `mysql://root@${host}:${this.port}/dsr${query ? `?${query}` : ""}`;
  }

  async stop(): Promise<void> {
    if (this.server.exitCode !== null) return;
    const exited = new Promise((resolve) => this.server.once("exit", resolve));
    this.server.kill("SIGTERM");
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
