import { expect } from "chai";
import pino from "pino";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { Manifest } from "../../src/export/format";
import { ZipReader } from "../../src/export/zipReader";
import { downloadedExport, heldCollect } from "../export/support";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason duplicateOf tasks { connector step status } } }`;

/**
 * An access request received after a correction of the person completed is answered with what the
 * systems hold then: it does not follow an access request at work since before the correction, whose
 * copy was collected with the old values.
 */
describeEachDatabase("an access request received after a correction", (db) => {
  let ws: SampleWorkspace | undefined;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  for (const moment of ["after the correction ended", "before the correction, and approved after it ended"]) it(`is not answered with the copy of an access request that collected before the correction (submitted ${moment})`, async () => {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 5, people: 10 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [...ws.connectors, heldCollect(held)]).start();
    const service = t;
    const submitted = async (input: Record<string, unknown>) => {
      service.clock.advance(1000);
      return (await submit(service, { subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session", ...input })).id as string;
    };
    const approve = (id: string) => service.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const request = async (input: Record<string, unknown>) => {
      const id = await submitted(input);
      await approve(id);
      return id;
    };
    const show = async (id: string) => (await service.ok(SHOW, { id })).request;
    const ended = (id: string) => service.waitFor(async () => { const r = await show(id); return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined; }, "request ended", 30_000);

    // The first access request has read the account database (Ada Lovelace) and waits for another system.
    const first = await request({ type: "ACCESS" });
    await t.waitFor(async () => ((await show(first)).tasks.find((x: any) => x.connector === "account-db" && x.step === "COLLECT")?.status === "SUCCEEDED" ? true : undefined), "account-db collected", 30_000);
    const early = moment.startsWith("before") ? await submitted({ type: "ACCESS" }) : undefined;
    if (early) expect((await show(early)).duplicateOf, "linked at submission: the first is at work").to.equal(first);
    const correction = await request({ type: "CORRECTION", corrections: [{ field: "name", value: "Augusta Ada King" }] });
    expect((await ended(correction)).status).to.equal("COMPLETED");

    // Ada's second access request goes ahead once her name was corrected.
    const second = early ?? (await submitted({ type: "ACCESS" }));
    await approve(second);
    expect((await show(second)).duplicateOf, "it does not follow the request that collected before the correction").to.equal(null);
    release();
    expect((await ended(first)).status).to.equal("COMPLETED");
    expect((await ended(second)).status).to.equal("COMPLETED");
    // The account database's user record in the copy holds the corrected name (the ticketing system,
    // which cannot correct data, still holds the old one: the correction said so).
    const zip = ZipReader.open((await downloadedExport(t, second)).file);
    try {
      const manifest = JSON.parse(await zip.text("manifest.json")) as Manifest;
      const file = manifest.files.find((f) => f.category === "ACCOUNT" && f.format === "json")!;
      const users = (JSON.parse(await zip.text(file.path)) as Array<{ connector: string; type: string; data: { name: string } }>).filter((r) => r.connector === "account-db" && r.type === "user");
      expect(users.map((u) => u.data.name)).to.deep.equal(["Augusta Ada King"]);
    } finally {
      zip.close();
    }
  });
});
