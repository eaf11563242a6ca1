import { expect } from "chai";
import type { Connector, Identities, SubjectRecord } from "../../src/connectors/sdk";
import { externalId } from "../../src/connectors/sdk";
import { ConnectorRegistry, ConnectorRegistryError } from "../../src/orchestrator/registry";
import { describeEachDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";

/** A CRM that finds people by its own id, given in subject.externalIds: it records what it was given. */
function crm(needs: string[], seen: Identities[]): Connector {
  return {
    spec: { name: "crm", version: "1.0.0", supports: ["access"], needs, provides: [], categories: ["ACCOUNT"] },
    check: async () => ({ ok: true, message: "crm reachable" }),
    async *collect(ids): AsyncIterable<SubjectRecord> {
      seen.push(ids);
      const id = externalId(ids, "crm");
      if (id) yield { category: "ACCOUNT", type: "contact", id, data: { id } };
    },
  };
}

const SHOW = `query($id: ID!) { request(id: $id) { status tasks { connector step status note outcome { records } } } }`;

describeEachDatabase("external ids in their own namespace", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  async function access(connector: Connector, externalIds: { system: string; id: string }[]) {
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" }, [connector]).start();
    const r = await submit(t, { type: "ACCESS", subject: { email: "ada@example.com", externalIds }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const { request } = await t.ok(SHOW, { id: r.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "request finished");
  }

  it("hands a connector that needs external:crm the CRM id, and never as the email", async () => {
    const seen: Identities[] = [];
    const done = await access(crm(["external:crm"], seen), [{ system: "crm", id: "c-42" }, { system: "email", id: "victim@example.com" }]);
    expect(done.tasks.find((x: any) => x.connector === "crm")).to.deep.include({ status: "SUCCEEDED", outcome: { records: 1 } });
    expect(seen).to.deep.equal([{ email: "ada@example.com", "external:crm": "c-42", "external:email": "victim@example.com" }]);
  });

  it("skips a connector still declaring a system's name as a need, saying how to declare it now", async () => {
    const seen: Identities[] = [];
    const done = await access(crm(["crm"], seen), [{ system: "crm", id: "c-42" }]);
    const task = done.tasks.find((x: any) => x.connector === "crm");
    expect(task.status).to.equal("SKIPPED");
    // Nothing else could collect: the request fails with the reason instead of completing (no work, no COMPLETED).
    expect(done.status).to.equal("FAILED");
    expect(task.note).to.contain("declare the need as external:crm");
    expect(seen).to.deep.equal([]);
  });
});

describe("identity kinds in connector specs", () => {
  it("refuses a malformed need, a second spelling of a kind, and providing email or an external id", () => {
    const problems = (needs: string[], provides: string[] = []) => {
      const connector = crm(needs, []);
      try {
        new ConnectorRegistry([{ ...connector, spec: { ...connector.spec, provides }, resolve: async () => ({}) }]);
        return [];
      } catch (error) {
        return (error as ConnectorRegistryError).problems;
      }
    };
    expect(problems(["external:crm", "email", "paymentCustomerId"])).to.deep.equal([]);
    expect(problems(["external:CRM Inc"])[0]).to.match(/the system after external: must be lower-case/);
    expect(problems(["Email"])[0]).to.match(/second spelling of email/);
    expect(problems(["user id"])[0]).to.match(/is not an identity kind/);
    expect(problems(["userId"], ["email"])[0]).to.match(/cannot provide email/);
    expect(problems(["email"], ["external:crm"])[0]).to.match(/is not an identity kind/);
  });
});
