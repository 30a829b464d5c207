// Hand-written SVG line chart (no dependencies): throughput vs size, one panel per direction.
//   node tools/bench/service/chart.mjs bench-results/service-….json docs/images/service-throughput.svg
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** One panel: series = [{label, color, dash?, points: [[sizeMiB, MBps], ...]}]. */
function panel({ x, y, w, h, title, series, sizes }) {
  const left = 52;
  const bottom = 40 + Math.ceil(series.length / 2) * 16 + 12; // axis labels + legend below the plot
  const top = 28;
  const pw = w - left - 12;
  const ph = h - top - bottom;
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  const ymax = niceMax(Math.max(1, ...all) * 1.05);
  const lx = (mib) => (sizes.length === 1 ? pw / 2 : ((Math.log2(mib) - Math.log2(sizes[0])) / (Math.log2(sizes.at(-1)) - Math.log2(sizes[0]))) * pw);
  const ly = (v) => ph - (v / ymax) * ph;
  const o = [];
  o.push(`<g transform="translate(${x},${y})">`);
  o.push(`<text x="${left + pw / 2}" y="16" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  o.push(`<g transform="translate(${left},${top})">`);
  o.push(`<rect x="0" y="0" width="${pw}" height="${ph}" fill="#fafafa" stroke="#999"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    const yy = ly(v).toFixed(1);
    o.push(`<line x1="0" x2="${pw}" y1="${yy}" y2="${yy}" stroke="#e2e2e2"/>`);
    o.push(`<text x="-6" y="${yy}" dy="4" text-anchor="end" font-size="11">${Math.round(v)}</text>`);
  }
  for (const s of sizes) {
    const xx = lx(s).toFixed(1);
    o.push(`<line x1="${xx}" x2="${xx}" y1="0" y2="${ph}" stroke="#e2e2e2"/>`);
    o.push(`<text x="${xx}" y="${ph + 16}" text-anchor="middle" font-size="11">${s >= 1024 ? s / 1024 + " GiB" : s + " MiB"}</text>`);
  }
  o.push(`<text x="${pw / 2}" y="${ph + 34}" text-anchor="middle" font-size="11">blob size (log scale)</text>`);
  o.push(`<text transform="translate(-40,${ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">MB/s (median)</text>`);
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${lx(p[0]).toFixed(1)},${ly(p[1]).toFixed(1)}`).join(" ");
    o.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    for (const p of pts) o.push(`<circle cx="${lx(p[0]).toFixed(1)}" cy="${ly(p[1]).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.label)}: ${p[1].toFixed(0)} MB/s at ${p[0]} MiB</title></circle>`);
  }
  // Legend.
  series.forEach((s, i) => {
    const lx0 = -40 + (i % 2) * ((pw + 40) / 2);
    const ly0 = ph + 52 + Math.floor(i / 2) * 16;
    o.push(`<line x1="${lx0}" x2="${lx0 + 24}" y1="${ly0}" y2="${ly0}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    o.push(`<text x="${lx0 + 30}" y="${ly0 + 4}" font-size="10.5">${esc(s.label)}</text>`);
  });
  o.push("</g></g>");
  return o.join("\n");
}

/** SVG of the service bench results (the JSON service-bench.mjs writes). */
export function throughputChart(report) {
  const blob = report.sections.blob ?? {};
  const sizes = Object.keys(blob)
    .map(Number)
    .sort((a, b) => a - b);
  const pts = (section, variant) => sizes.filter((s) => blob[s]?.[section]?.[variant]).map((s) => [s, blob[s][section][variant].median]);
  const py = report.sections.python ?? {};
  const pyPts = (k) =>
    Object.keys(py)
      .map(Number)
      .filter((s) => py[s]?.[k])
      .map((s) => [s, py[s][k].median]);
  const up = [
    { label: "plain Put Blob", color: "#1f77b4", dash: "5,3", points: pts("put", "plain") },
    { label: "encrypted Put Blob", color: "#1f77b4", points: pts("put", "enc") },
    { label: "plain staged blocks (SDK, no MD5)", color: "#ff7f0e", dash: "2,3", points: pts("blocks", "plain") },
    { label: "plain staged blocks + MD5", color: "#ff7f0e", dash: "5,3", points: pts("blocks", "plainMd5") },
    { label: "encrypted staged blocks (+ MD5)", color: "#ff7f0e", points: pts("blocks", "enc") },
    { label: "plain uploadStream", color: "#2ca02c", dash: "5,3", points: pts("stream", "plain") },
    { label: "encrypted uploadStream", color: "#2ca02c", points: pts("stream", "enc") },
    { label: "Python SDK encrypted upload", color: "#d62728", points: pyPts("pythonUp") },
  ];
  const down = [
    { label: "plain streaming GET", color: "#1f77b4", dash: "5,3", points: pts("get", "plain") },
    { label: "encrypted streaming GET", color: "#1f77b4", points: pts("get", "enc") },
    { label: "plain downloadToBuffer", color: "#9467bd", dash: "5,3", points: pts("dtb", "plain") },
    { label: "encrypted downloadToBuffer", color: "#9467bd", points: pts("dtb", "enc") },
    { label: "Python SDK encrypted download", color: "#d62728", points: pyPts("pythonDown") },
  ];
  const W = 980;
  const H = 520;
  const title = `Throughput vs size against Azurite (median of ${report.machine.reps} paired runs, ${report.machine.quick ? "quick" : "full"} run, ${report.machine.date.slice(0, 10)})`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    panel({ x: 0, y: 24, w: W / 2, h: H - 24, title: "Upload", series: up.filter((s) => s.points.length), sizes }),
    panel({ x: W / 2, y: 24, w: W / 2, h: H - 24, title: "Download", series: down.filter((s) => s.points.length), sizes }),
    "</svg>",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: node tools/bench/service/chart.mjs RESULTS.json OUT.svg");
    process.exit(1);
  }
  mkdirSync(path.dirname(output), { recursive: true });
  writeFileSync(output, throughputChart(JSON.parse(readFileSync(input, "utf8"))));
  console.log(`wrote ${output}`);
}
