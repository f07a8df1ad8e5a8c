// The SVG chart of a `npm run bench` result (bench/results/bench.svg, shown
// in docs/performance.md): throughput per scenario for this client, MQTT.js
// and the raw-socket ceiling (log scale), and the latency percentiles
// through mosquitto. Plain SVG text, no dependency.

export interface ChartInput {
  /** scenario -> messages per second (medians) */
  throughput: { name: string; ours: number; mqttjs: number; ceiling?: number }[];
  /** client -> latency in µs at each of `percentiles` (medians of the runs) */
  latency: { name: string; values: number[] }[];
  percentiles: string[];
  caption: string;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#7f7f7f'];
const W = 900;
const PANEL_H = 300;
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function text(x: number, y: number, s: string, opts = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${opts}>${escape(s)}</text>`;
}

function legend(x: number, y: number, names: string[]): string {
  return names
    .map((n, i) => `<rect x="${x}" y="${y + i * 16 - 9}" width="10" height="10" fill="${COLORS[i]}"/>` + text(x + 14, y + i * 16, n))
    .join('');
}

/** Grouped bars on a log10 axis. */
function throughputPanel(top: number, rows: ChartInput['throughput']): string {
  const left = 90;
  const right = W - 200;
  const bottom = top + PANEL_H - 50;
  const values = rows.flatMap((r) => [r.ours, r.mqttjs, r.ceiling ?? 0]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values))));
  const y = (v: number) => bottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top - 20);
  let out = text(left, top, 'Throughput, messages per second (log scale)', 'font-weight="bold"');
  for (let d = lo; d <= hi; d *= 10) {
    out += `<line x1="${left}" x2="${right}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>`;
    out += text(left - 6, y(d) + 4, d >= 1e6 ? `${d / 1e6}M` : d >= 1e3 ? `${d / 1e3}k` : String(d), 'text-anchor="end"');
  }
  const group = (right - left) / rows.length;
  const bar = Math.min(40, (group - 20) / 3);
  rows.forEach((r, i) => {
    const x0 = left + i * group + (group - 3 * bar) / 2;
    [r.ours, r.mqttjs, r.ceiling ?? 0].forEach((v, k) => {
      if (v <= 0) return;
      out += `<rect x="${x0 + k * bar}" y="${y(v)}" width="${bar - 2}" height="${bottom - y(v)}" fill="${COLORS[k]}"/>`;
    });
    out += text(left + i * group + group / 2, bottom + 16, r.name, 'text-anchor="middle"');
    out += text(left + i * group + group / 2, bottom + 32, `${(r.ours / r.mqttjs).toFixed(1)}x MQTT.js`, 'text-anchor="middle" fill="#555"');
  });
  return out + legend(right + 20, top + 30, ['mqtt-rs-client', 'MQTT.js', 'raw socket (node net)']);
}

/** One line per client over the percentiles, log10 µs axis (the tail spans decades). */
function latencyPanel(top: number, input: ChartInput): string {
  const left = 90;
  const right = W - 200;
  const bottom = top + PANEL_H - 50;
  const all = input.latency.flatMap((l) => l.values).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const y = (v: number) => bottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top - 20);
  const x = (i: number) => left + 30 + (i * (right - left - 60)) / Math.max(1, input.percentiles.length - 1);
  let out = text(left, top, 'Latency through mosquitto, one message at a time (µs, log scale)', 'font-weight="bold"');
  for (let d = lo; d <= hi; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi) break;
      out += `<line x1="${left}" x2="${right}" y1="${y(v)}" y2="${y(v)}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`;
      out += text(left - 6, y(v) + 4, String(v), 'text-anchor="end"');
    }
  }
  input.percentiles.forEach((p, i) => (out += text(x(i), bottom + 16, p, 'text-anchor="middle"')));
  input.latency.forEach((l, k) => {
    const pts = l.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out += `<polyline points="${pts}" fill="none" stroke="${COLORS[k]}" stroke-width="2"/>`;
    l.values.forEach((v, i) => (out += `<circle cx="${x(i)}" cy="${y(v)}" r="3" fill="${COLORS[k]}"/>`));
  });
  return out + legend(right + 20, top + 30, input.latency.map((l) => l.name));
}

export function chart(input: ChartInput): string {
  const h = 2 * PANEL_H + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    throughputPanel(24, input.throughput),
    latencyPanel(PANEL_H + 24, input),
    text(10, h - 8, input.caption, 'fill="#555" font-size="11"'),
    '</svg>',
    '',
  ].join('\n');
}
