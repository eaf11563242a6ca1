import v8 from "node:v8";
import vm from "node:vm";

/**
 * A full garbage collection on demand, in a test process started without --expose-gc: the flag is
 * set at run time and `gc` read from a fresh context, where V8 then installs it.
 */
export function forcedGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}
