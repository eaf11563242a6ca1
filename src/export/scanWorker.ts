import { parentPort, workerData } from "node:worker_threads";
import { CategoryScan, ScanMessage, ScanReply } from "./scan";

/** The worker side of workerScanner: one category, pages in order, then its result. */
const { dir } = workerData as { dir: string };
const scan = new CategoryScan(() => dir);
const reply = (m: ScanReply) => parentPort!.postMessage(m);
parentPort!.on("message", (m: ScanMessage) => {
  try {
    if (m.type === "page") {
      scan.addPage(m.lines);
      reply({ type: "ack" });
    } else {
      reply({ type: "done", result: scan.finish() });
    }
  } catch (error) {
    scan.drop();
    // Never the parser's message: it quotes the record.
    reply({ type: "error", message: error instanceof SyntaxError ? "a staged record is not valid JSON" : (error as Error).message });
  }
});
