import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { archiveTexts, download, exportLink } from "../export/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status attempts lastError } } }`;

/**
 * A 200 that says, in its body, that it is not the whole answer: GitHub's search answers
 * `incomplete_results: true` when it timed out, Elasticsearch `timed_out: true` with the hits it had,
 * a JSend API `status: "fail"` or `"error"`. Taken for the listing, her export was short: it held none
 * of the notes the system holds, and the request COMPLETED. Checked in the downloaded export.
 */
describeEachDatabase("the declarative HTTP connector, when a listing answers 200 with a body that says it is partial or failed", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));

  for (const [what, sign] of [
    ["incomplete_results: true (GitHub's search, timed out)", { incomplete_results: true }],
    ["timed_out: true (Elasticsearch, partial hits)", { timed_out: true }],
    ['status: "fail" (JSend)', { status: "fail", data: { notes: "backend unavailable" } }],
    ['status: "error" (JSend)', { status: "error", message: "backend unavailable" }],
  ] as const) {
    it(`does not take a listing answered with ${what} for all her notes: her export holds every one`, async function () {
      this.timeout(60_000);
      // Her notes' first page, once: 200, no notes, no next cursor, and the sign.
      standIn.faults.push({ status: 200, method: "GET", path: "/api/users/1/notes", body: { notes: [], meta: { next_cursor: null }, ...sign } });
      t = await hooks.serviceOver(restConfig(standIn));
      const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
      expect(access.status, access.statusReason).to.equal("COMPLETED");
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/notes").length, "the partial answer was given").to.be.at.least(2);
      const { data } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
      for (const n of standIn.notes.filter((x) => x.user === 1)) expect(data, n.id).to.include(n.text);
    });
  }
});
