/**
 * A grouped bar chart as standalone SVG text (log scale), for the Feast comparison figures in docs/benchmarks.md:
 * one group per configuration, one bar per system, the value printed above each bar.
 *
 * @example
 * writeFileSync('docs/feast-serving.svg', barChart({ title: 'p99 (ms)', series: ['Feast', 'Tessera'],
 *   groups: [{ label: '50 f × 1', values: [91, 13] }] }));
 */
export interface BarChart {
  readonly title: string;
  readonly series: readonly string[];
  readonly groups: readonly { readonly label: string; readonly values: readonly number[] }[];
}

const COLORS = ['#d95f02', '#1b9e77', '#7570b3', '#e7298a'];

export function barChart(chart: BarChart): string {
  const bar = 26;
  const gap = 22;
  const groupWidth = Math.max(
    chart.series.length * bar + gap,
    Math.max(...chart.groups.map((g) => g.label.length)) * 6 + 12,
  );
  const left = 50;
  const top = 50;
  const height = 260;
  // Wide enough for the bars, the title and the legend (about 6.5 px per character at these sizes).
  const legend = chart.series.map((s) => s.length * 6.5 + 30);
  const width = Math.ceil(
    Math.max(
      left + chart.groups.length * groupWidth + 20,
      left + chart.title.length * 7.5,
      left + legend.reduce((a, b) => a + b, 0),
    ),
  );
  const values = chart.groups.flatMap((g) => g.values).filter((v) => v > 0);
  // A decade below the smallest value, so that no bar is drawn with zero height.
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values) * 0.9));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const y = (v: number) => top + height - (height * Math.log10(Math.max(v, lo) / lo)) / Math.log10(hi / lo);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 40}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="13" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  let lx = left;
  chart.series.forEach((s, i) => {
    out.push(
      `<rect x="${lx}" y="30" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${lx + 14}" y="39">${escapeXml(s)}</text>`,
    );
    lx += legend[i] ?? 0;
  });
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    out.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${format(v)}</text>`,
    );
  }
  chart.groups.forEach((g, gi) => {
    const x0 = left + gi * groupWidth + (groupWidth - chart.series.length * bar) / 2;
    g.values.forEach((v, si) => {
      const x = x0 + si * bar;
      if (!(v > 0)) {
        // Not measured (e.g. a store that was not run at this size).
        out.push(
          `<text x="${x + (bar - 4) / 2}" y="${top + height - 3}" text-anchor="middle" font-size="9">n/a</text>`,
        );
        return;
      }
      const yv = y(v);
      out.push(
        `<rect x="${x}" y="${yv}" width="${bar - 4}" height="${top + height - yv}" fill="${COLORS[si % COLORS.length]}"/>`,
        `<text x="${x + (bar - 4) / 2}" y="${yv - 3}" text-anchor="middle" font-size="9">${format(v)}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + (chart.series.length * bar) / 2}" y="${top + height + 16}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const format = (v: number) =>
  v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v >= 0.01 ? v.toFixed(2) : String(v);
const escapeXml = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
