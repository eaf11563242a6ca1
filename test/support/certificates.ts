import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** PEM files a test made with the openssl command: a CA, and a key and certificate it issued per name. */
export interface TestCertificates {
  /** The CA that issued every certificate here. */
  caFile: string;
  /** A CA that issued nothing here (what a stranger's server would show). */
  strangerCaFile: string;
  /** The certificate made out to `name` (subjectAltName DNS:<name>), and its key. */
  certFile(name: string): string;
  keyFile(name: string): string;
}

/** Makes a test CA and one certificate per name in `dir` with Debian's openssl (valid two days). */
export function makeCertificates(dir: string, names: readonly string[]): TestCertificates {
  const file = (name: string) => path.join(dir, name);
  const run = (args: string[]) => {
    const out = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (out.status !== 0) throw new Error(`openssl ${args[0]} failed (${out.status}): ${out.stderr.slice(-500)}`);
  };
  for (const ca of ["test-ca", "stranger-ca"]) run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${ca}`, "-keyout", file(`${ca}.key`), "-out", file(`${ca}.pem`)]);
  for (const name of names) {
    run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`)]);
    fs.writeFileSync(file(`${name}.ext`), `subjectAltName=DNS:${name}\n`);
    run(["x509", "-req", "-in", file(`${name}.csr`), "-CA", file("test-ca.pem"), "-CAkey", file("test-ca.key"), "-CAcreateserial", "-days", "2", "-extfile", file(`${name}.ext`), "-out", file(`${name}.pem`)]);
  }
  return { caFile: file("test-ca.pem"), strangerCaFile: file("stranger-ca.pem"), certFile: (name) => file(`${name}.pem`), keyFile: (name) => file(`${name}.key`) };
}
