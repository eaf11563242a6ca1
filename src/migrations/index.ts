import { ServiceCore1764000000000 } from "./1764000000000-ServiceCore";
import { Orchestrator1764100000000 } from "./1764100000000-Orchestrator";
import { Retention1764200000000 } from "./1764200000000-Retention";
import { Exports1764300000000 } from "./1764300000000-Exports";
import { SettingsTrigger1764400000000 } from "./1764400000000-SettingsTrigger";
import { EncryptedStaging1764800000000 } from "./1764800000000-EncryptedStaging";

/** Every migration, oldest first. The schema changes only through these (synchronize stays off). */
export const MIGRATIONS = [ServiceCore1764000000000, Orchestrator1764100000000, Retention1764200000000, Exports1764300000000, SettingsTrigger1764400000000, EncryptedStaging1764800000000];
