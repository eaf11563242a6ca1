import { createHash } from "node:crypto";
import { csvColumns } from "./content";
import { CSV_LEADING_COLUMNS, HTML_CELL_MAX_CHARS, HTML_SAMPLE_RECORDS, type Manifest } from "./format";
import type { ExportRecord } from "./records";

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/**
 * A value as a table cell: its first HTML_CELL_MAX_CHARS characters (not splitting a surrogate pair),
 * then how many more there are; the data files hold it whole.
 */
function cell(v: unknown): string {
  const text = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (text.length <= HTML_CELL_MAX_CHARS) return escape(text);
  const end = /[\ud800-\udbff]/.test(text[HTML_CELL_MAX_CHARS - 1]) ? HTML_CELL_MAX_CHARS - 1 : HTML_CELL_MAX_CHARS;
  return `${escape(text.slice(0, end))}… (${(text.length - end).toLocaleString("en")} more characters, in full in the data files)`;
}
/** The date of an ISO 8601 time (a year past 9999 has more digits and a sign: +010000-01-01). */
const day = (iso: string | null) => (iso ? escape(iso.split("T")[0]) : "unknown");

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}table{border-collapse:collapse;width:100%;font-size:13px;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:start;vertical-align:top;white-space:pre-wrap}th{background:#f3f3f3}
.summary td,.summary th{white-space:nowrap}.note{color:#555}`;

/**
 * index.html's policy: nothing loaded or run (no script, image, font, frame or fetch), the one style
 * sheet its own (by its hash: no style attribute or other sheet applies), no <base> moving its links,
 * no form sending anything. Every value is escaped; this holds should one ever slip through.
 */
const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'; base-uri 'none'; form-action 'none'`;

/**
 * index.html, opened offline by the person: a summary (categories, counts, dates) and the first records
 * of each category (a value cut at HTML_CELL_MAX_CHARS). No scripts and no external assets; a Content-Security-Policy forbids fetching any.
 */
const KEPT_HEADING = "Kept after an earlier deletion request (and included above where the system still returns them)";
/** One record set an earlier deletion kept, in words. */
const keptLine = (e: Manifest["retentionExceptions"][number]) => `${e.connector} ${e.recordType}: ${e.records} record(s), ${e.legalBasis}, ${e.retainUntil ? `until ${e.retainUntil}` : "for as long as legal reasons require"}`;
const RESIDUE_HEADING = "Still holding your data after an earlier deletion request, which could not erase it (it may not appear above)";
/** One residual set an earlier deletion reported, in words (no personal data: names of fields only). */
const residueLine = (r: Manifest["residualRecords"][number]) =>
  `${r.connector} ${r.recordType}: ${r.records} record(s) still holding ${r.fields.join(", ")}; ${r.reason} (reported ${r.reportedAt ?? "by the deletion"}, request ${r.deletionRequest})`;

const NOT_SEARCHED_HEADING = "Not searched: kinds of record a system may hold about you that could not be looked for (they may be missing here)";
/** One kind of record a connector could not search for, in words. */
const notSearchedLine = (n: Manifest["notSearched"][number]) => `${n.connector} ${n.type} (${n.category}): ${n.reason}`;

/** Where each system processes the data, beside the service's own location (none when the manifest does not say). */
function processingLines(manifest: Manifest): string[] {
  const primary = manifest.processingLocation;
  if (!primary) return [];
  return [
    `this service: ${primary}`,
    ...manifest.connectors.map((c) => `${c.name}: ${c.processingLocation ? `${c.processingLocation}${c.processingLocation === primary ? "" : ` (outside ${primary})`}` : "not recorded"}`),
  ];
}

export function renderIndexHtml(manifest: Manifest, person: string, samples: Map<string, ExportRecord[]>): string {
  const summary = manifest.categories
    .map(
      (c) =>
        `<tr data-category="${escape(c.category)}"><td><a href="#${escape(c.category)}">${escape(c.category)}</a></td><td class="count">${c.records}</td><td>${escape(c.connectors.map((x) => x.name).join(", "))}</td><td>${day(c.firstRecordedAt)}</td><td>${day(c.lastRecordedAt)}</td></tr>`,
    )
    .join("\n");
  const sections = manifest.categories
    .map((c) => {
      const rows = samples.get(c.category) ?? [];
      const fields = c.fields.map((f) => f.name);
      // Headed as in the CSV, so a field named type or id is not a second "type" or "id" column.
      const headings = csvColumns(c.fields).slice(CSV_LEADING_COLUMNS.length);
      const files = manifest.files.filter((f) => f.category === c.category).map((f) => `<code>${escape(f.path)}</code>`).join(", ");
      const table = rows.length
        ? `<table><thead><tr><th>system</th><th>type</th><th>id</th><th>date</th>${headings.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>
${rows.map((r) => `<tr><td>${cell(r.connector)}</td><td>${cell(r.type)}</td><td>${cell(r.id)}</td><td>${cell(r.recordedAt)}</td>${fields.map((f) => `<td>${cell(Object.hasOwn(r.data, f) ? r.data[f] : undefined)}</td>`).join("")}</tr>`).join("\n")}
</tbody></table>`
        : "";
      const more = c.records > rows.length ? `<p class="note">Showing ${rows.length} of ${c.records} records; all of them are in ${files}.</p>` : `<p class="note">Files: ${files}.</p>`;
      return `<section id="${escape(c.category)}"><h2>${escape(c.category)} <small>(${c.records} records)</small></h2>${more}${table}</section>`;
    })
    .join("\n");
  const missing = manifest.notIncluded.length
    ? `<h2>Not included</h2><ul>${manifest.notIncluded.map((n) => `<li>${escape(n.name)}: ${escape(n.reason)}</li>`).join("")}</ul>`
    : "";
  const leftOut = manifest.leftOut.length
    ? `<h2 id="left-out">Left out: other people's data</h2><ul>${manifest.leftOut.map((l) => `<li data-connector="${escape(l.connector)}" data-type="${escape(l.type)}">${escape(l.connector)}: <span class="count">${l.records}</span> ${escape(l.type)} record(s) (${escape(l.category)}), ${escape(l.reason)}</li>`).join("")}</ul>`
    : "";
  const notSearched = manifest.notSearched.length
    ? `<h2 id="not-searched">${escape(NOT_SEARCHED_HEADING)}</h2><ul>${manifest.notSearched.map((n) => `<li data-connector="${escape(n.connector)}" data-type="${escape(n.type)}">${escape(notSearchedLine(n))}</li>`).join("")}</ul>`
    : "";
  const kept = manifest.retentionExceptions.length ? `<h2 id="kept">${escape(KEPT_HEADING)}</h2><ul>${manifest.retentionExceptions.map((e) => `<li>${escape(keptLine(e))}</li>`).join("")}</ul>` : "";
  const residue = manifest.residualRecords.length ? `<h2 id="residue">${escape(RESIDUE_HEADING)}</h2><ul>${manifest.residualRecords.map((r) => `<li>${escape(residueLine(r))}</li>`).join("")}</ul>` : "";
  const where = processingLines(manifest);
  const located = where.length ? `<h2 id="processing">Where it is processed</h2><ul>${where.map((l) => `<li>${escape(l)}</li>`).join("")}</ul>` : "";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your data</title><style>${STYLE}</style></head>
<body>
<h1>The data we hold about <span id="person">${cell(person)}</span></h1>
<p class="note">Request ${escape(manifest.request.id)} (${escape(manifest.request.type)}), generated ${escape(manifest.generatedAt)}.</p>
<table class="summary"><thead><tr><th>category</th><th>records</th><th>systems</th><th>earliest</th><th>latest</th></tr></thead><tbody>
${summary}
</tbody></table>
${missing}
${leftOut}
${notSearched}
${kept}
${residue}
${located}
${sections}
</body></html>
`;
}

/** README.txt: what the archive holds and how to read it, in plain words. */
export function renderReadme(manifest: Manifest): string {
  const where = processingLines(manifest);
  const lines = manifest.categories.map((c) => `  ${c.category.padEnd(12)} ${String(c.records).padStart(9)} records  ${manifest.files.filter((f) => f.category === c.category).map((f) => f.path).join(", ")}`);
  return [
    "Your personal data",
    "==================",
    "",
    `This archive answers request ${manifest.request.id} (${manifest.request.type}), generated ${manifest.generatedAt}.`,
    "",
    "Open index.html in a web browser to read it; it works offline and loads nothing from the internet.",
    `It shows the first ${HTML_SAMPLE_RECORDS} records of each category, and of a value longer than ${HTML_CELL_MAX_CHARS.toLocaleString("en")} characters its`,
    "beginning (marked so); the data files below hold every record and every value whole.",
    "",
    "What is inside:",
    ...lines,
    "",
    "  data/<category>.json   the records of a category as one JSON array (for up to 10,000 records)",
    "  data/<category>.jsonl  the same as JSON Lines, one record per line (for larger categories)",
    "  data/<category>.csv    the same as a table (UTF-8, comma-separated, RFC 4180 quoting), when the",
    "                         records are flat; opens in any spreadsheet program (text starting with",
    "                         =, +, -, @, a tab or a carriage return, after any apostrophes, is",
    "                         written behind one more apostrophe,",
    "                         so that a spreadsheet shows it rather than runs it as a formula; the",
    "                         JSON files hold it exactly); a field named connector, type, id or",
    "                         recordedAt is headed data.<name> there (manifest.json lists the columns)",
    "  manifest.json          machine-readable list of every file with its record count, size and SHA-256",
    "                         checksum, the meaning of every field, and what is not included and why",
    "  signature.json         the service's Ed25519 signature of manifest.json (and so of every file it",
    "                         lists): `dsr export verify <this zip> --public-key <the service's address>`",
    "                         checks it against the key the service publishes",
    "",
    "Every record has: connector (the system it comes from), type, id, recordedAt (when it came into",
    "being, UTC) and data (its fields, listed per category in manifest.json).",
    "",
    ...(manifest.notIncluded.length ? ["Not included:", ...manifest.notIncluded.map((n) => `  ${n.name}: ${n.reason}`), ""] : []),
    ...(manifest.leftOut.length ? ["Left out on purpose (other people's data):", ...manifest.leftOut.map((l) => `  ${l.connector}: ${l.records} ${l.type} record(s), ${l.reason}`), ""] : []),
    ...(manifest.notSearched.length ? [`${NOT_SEARCHED_HEADING}:`, ...manifest.notSearched.map((n) => `  ${notSearchedLine(n)}`), ""] : []),
    ...(where.length ? ["Where it is processed (country codes, ISO 3166-1):", ...where.map((l) => `  ${l}`), ""] : []),
    "How long we keep each category:",
    ...manifest.retention.map((r) => `  ${r.category.padEnd(12)} ${r.keptFor} (${r.legalBasis})`),
    "",
    ...(manifest.retentionExceptions.length
      ? [
          `${KEPT_HEADING}:`,
          ...manifest.retentionExceptions.map((e) => `  ${keptLine(e)}`),
          "",
        ]
      : []),
    ...(manifest.residualRecords.length ? [RESIDUE_HEADING + ":", ...manifest.residualRecords.map((r) => `  ${residueLine(r)}`), ""] : []),
  ].join("\n");
}
