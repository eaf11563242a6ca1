import { ServiceCore1764000000000 } from "./1764000000000-ServiceCore";
import { Orchestrator1764100000000 } from "./1764100000000-Orchestrator";
import { Exports1764300000000 } from "./1764300000000-Exports";

/** Every migration, oldest first. The schema changes only through these (synchronize stays off). */
export const MIGRATIONS = [ServiceCore1764000000000, Orchestrator1764100000000, Exports1764300000000];
