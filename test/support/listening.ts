/** The port a service logged in its "dsr service listening" line, once it has. */
export function listeningPort(output: string): number | undefined {
  const match = /"url":"http:\/\/[^:"]+:(\d+)\//.exec(output);
  return match ? Number(match[1]) : undefined;
}
