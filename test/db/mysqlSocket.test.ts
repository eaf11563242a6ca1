import { expect } from "chai";
import mysql from "mysql2/promise";
import { loadConfig } from "../../src/config/env";
import { createDataSource } from "../../src/db/dataSource";
import { describeEachOf, tempDir } from "../support/databases";

/** The connection's own entry in the server's process list: `localhost` over the Unix socket, `host:port` over TCP. */
const HOST_OF_THIS_CONNECTION = "SELECT HOST AS h FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()";

describeEachOf(["mariadb"], "DATABASE_URL with socketPath", (db) => {
  it("talks to a server on the same host through its Unix socket, and over TCP without it", async () => {
    const admin = await mysql.createConnection({ uri: db().url });
    const [[{ socket }]] = (await admin.query("SELECT @@socket AS socket")) as unknown as [[{ socket: string }]];
    await admin.end();
    expect(socket, "the server's socket").to.match(/^\//);
    const viaSocket = new URL(db().url);
    viaSocket.hostname = "localhost";
    viaSocket.port = "";
    viaSocket.searchParams.set("socketPath", socket);
    const hostOf = async (url: string) => {
      const ds = createDataSource(loadConfig({ DATABASE_URL: url, DSR_DATA_DIR: tempDir() }));
      await ds.initialize();
      try {
        return ((await ds.query(HOST_OF_THIS_CONNECTION)) as { h: string }[])[0].h;
      } finally {
        await ds.destroy();
      }
    };
    expect(await hostOf(viaSocket.toString())).to.equal("localhost");
    expect(await hostOf(db().url)).to.match(/:\d+$/);
  });
});
