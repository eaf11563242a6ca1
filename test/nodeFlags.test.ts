import { expect } from "chai";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SERVICE_ENV, SERVICE_ENV_ASSIGNMENTS, SERVICE_NODE_FLAGS } from "../src/nodeFlags";

const ROOT = path.resolve(__dirname, "..", "..");

describe("the service's Node.js flags", () => {
  it("are the same in npm start, in bin/dsr.js's shebang and in src/nodeFlags.ts (which the benches use), environment included", () => {
    expect(SERVICE_ENV_ASSIGNMENTS).to.equal("MALLOC_ARENA_MAX=1");
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    // exec: npm signals the shell it runs the script in, which then is node itself (test/npmStart.test.ts).
    expect(pkg.scripts.start).to.equal(`${SERVICE_ENV_ASSIGNMENTS} exec node ${SERVICE_NODE_FLAGS.join(" ")} bin/dsr.js serve`);
    const shebang = fs.readFileSync(path.join(ROOT, "bin", "dsr.js"), "utf8").split("\n")[0];
    expect(shebang).to.equal(`#!/usr/bin/env -S ${SERVICE_ENV_ASSIGNMENTS} node ${SERVICE_NODE_FLAGS.join(" ")}`);
  });

  it("take effect when bin/dsr.js is run as a program: node gets them all, and V8's new space grows to 2 x 32 MB under churn (16 MB semi-spaces without them)", () => {
    // A probe loaded before the CLI churns short-lived objects until the young generation has grown to
    // its maximum, and reports the new space's size.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-flags-"));
    try {
      const probe = path.join(dir, "probe.js");
      fs.writeFileSync(
        probe,
        "const v8=require('v8');const kept=[];let x=[];for(let i=0;i<3e6;i++){x.push({a:i,b:'s'+i});if(x.length>20000){kept.push(x[0]);x=[];}}" +
          "process.stderr.write('NEWSPACE='+v8.getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size/1048576+'\\n');" +
          "process.stderr.write('EXECARGV='+JSON.stringify(process.execArgv)+'\\n');" +
          "process.stderr.write('ARENAS='+(process.env.MALLOC_ARENA_MAX??'unset')+'\\n');",
      );
      const probed = (command: string, args: string[]) => {
        const { MALLOC_ARENA_MAX: _inherited, ...env } = process.env;
        const run = spawnSync(command, args, { encoding: "utf8", env: { ...env, NODE_OPTIONS: `--require ${probe}` } });
        expect(run.status, run.stderr).to.equal(0);
        return {
          newSpaceMb: Number(/NEWSPACE=(\d+)/.exec(run.stderr)?.[1]),
          execArgv: JSON.parse(/EXECARGV=(.*)/.exec(run.stderr)?.[1] ?? "null") as string[],
          arenas: /ARENAS=(.*)/.exec(run.stderr)?.[1],
        };
      };
      const cli = probed(path.join(ROOT, "bin", "dsr.js"), ["--version"]);
      expect(cli.newSpaceMb).to.equal(64);
      // Every flag reached node (--heap-growing-percent shows no figure a probe could read).
      expect(cli.execArgv).to.deep.equal([...SERVICE_NODE_FLAGS]);
      // And the environment (glibc reads it when the process starts; nothing in node shows its effect).
      expect(cli.arenas).to.equal(SERVICE_ENV.MALLOC_ARENA_MAX);
      // The same probe in a plain node: the default, so the checks above can fail.
      const plain = probed(process.execPath, ["-e", ""]);
      expect(plain.newSpaceMb).to.be.below(64);
      expect(plain.execArgv).to.deep.equal(["-e", ""]);
      expect(plain.arenas).to.equal("unset");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
