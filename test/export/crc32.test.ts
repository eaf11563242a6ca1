import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { useNativeCrc32 } from "../../src/export/crc32";

/** The textbook CRC-32 (IEEE 802.3, reflected), bit by bit: the reference both must match. */
function referenceCrc32(data: Uint8Array, previous = 0): number {
  let c = ~previous;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

describe("export: native CRC-32 for archiver", () => {
  it("gives textbook CRC-32 values through the crc-32 package, across chunked input and the seeds archiver passes", () => {
    useNativeCrc32();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crc = require("crc-32") as { buf: (data: Uint8Array, seed?: unknown) => number; __native?: boolean };
    expect(crc.__native).to.equal(true);
    const data = randomBytes(200_000);
    // crc32-stream starts from a zeroed 4-byte Buffer, then passes the previous checksum (unsigned).
    let checksum: unknown = Buffer.alloc(4);
    let reference = 0;
    for (let i = 0; i < data.length; i += 65_536) {
      checksum = crc.buf(data.subarray(i, i + 65_536), checksum) >>> 0;
      reference = referenceCrc32(data.subarray(i, i + 65_536), reference);
    }
    expect(checksum).to.equal(reference);
    expect(crc.buf(Buffer.from("hello"), 0) >>> 0).to.equal(0x3610a686);
  });
});
