import zlib from "node:zlib";

/**
 * archiver (through crc32-stream and compress-commons) computes every ZIP entry's CRC-32 with the
 * `crc-32` package, in JavaScript: about a sixth of an export's main-thread time. Node's zlib.crc32
 * (native, same polynomial and seed semantics) gives the same values several times faster, so the
 * package's `buf` is routed to it, once, before the first archive is written. Same bytes out; a test
 * checks both agree across chunked input.
 */
export function useNativeCrc32(): void {
  const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crc = require("crc-32") as { buf: (data: Uint8Array, seed?: unknown) => number; __native?: boolean };
  if (typeof native !== "function" || crc.__native) return;
  crc.buf = (data, seed) => native(data, Number(seed) >>> 0) | 0;
  crc.__native = true;
}
