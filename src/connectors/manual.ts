import { Connector, ConnectorAction, ConnectorConfigError, DataCategory, ManualStep } from "./sdk";

/** A system with no API: its tasks wait in AWAITING_INPUT until a privacy officer completes them. */
export interface ManualConnectorConfig {
  name: string;
  categories: DataCategory[];
  supports: ConnectorAction[];
  /**
   * What the person must do, shown on the task, per step: `{ "collect": "...", "erase": "..." }`. One
   * text is accepted when the connector supports one action only (else shredding instructions would
   * show on an access task).
   */
  instructions: string | Partial<Record<ManualStep, string>>;
}

/** The step an action's tasks run. */
const STEP_OF: Record<ConnectorAction, ManualStep> = { access: "collect", erasure: "erase", rectification: "rectify" };

/** The instructions per step, or every problem with them. */
function instructionsOf(config: ManualConnectorConfig): { steps: Partial<Record<ManualStep, string>>; problems: string[] } {
  const supports = Array.isArray(config.supports) ? config.supports : [];
  const wanted = supports.map((a) => STEP_OF[a]).filter(Boolean);
  const given = config.instructions;
  if (typeof given === "string") {
    if (wanted.length > 1) return { steps: {}, problems: [`instructions: with ${supports.join(" and ")}, give them per step, e.g. {${wanted.map((s) => `"${s}": "..."`).join(", ")}}, so each task shows what to do in it`] };
    return given.trim() ? { steps: Object.fromEntries(wanted.map((s) => [s, given])), problems: [] } : { steps: {}, problems: ["instructions must say what the person does"] };
  }
  if (!given || typeof given !== "object" || Array.isArray(given)) return { steps: {}, problems: [`instructions are required: {${wanted.map((s) => `"${s}": "..."`).join(", ")}}`] };
  const problems: string[] = [];
  for (const [step, text] of Object.entries(given)) {
    if (!wanted.includes(step as ManualStep)) problems.push(`instructions.${step}: not a step of this connector (its steps: ${wanted.join(", ") || "none"})`);
    else if (typeof text !== "string" || !text.trim()) problems.push(`instructions.${step} must say what the person does`);
  }
  for (const step of wanted) if (!(step in given)) problems.push(`instructions.${step} is missing: what the person does in its ${step} tasks`);
  return { steps: given, problems };
}

/** Builds a manual connector; throws ConnectorConfigError listing every problem of its instructions. */
export function createManualConnector(config: ManualConnectorConfig): Connector {
  const { steps, problems } = instructionsOf(config);
  if (problems.length) throw new ConnectorConfigError(config.name, problems);
  return {
    spec: {
      name: config.name,
      version: "manual",
      supports: config.supports,
      needs: ["email"],
      provides: [],
      categories: config.categories,
      manual: true,
      instructions: steps,
    },
    async check() {
      return { ok: true, message: `${config.name}: done by hand (a privacy officer completes each task with completeManualTask); nothing to reach` };
    },
    // The orchestrator never calls collect on a manual connector; a person attaches the records instead.
    async *collect() {},
  };
}
