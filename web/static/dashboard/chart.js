// Deliveries over time as stacked bars, drawn at the width they are shown so the axis labels
// keep their size on any screen.
import { STATUSES, esc, when } from "./ui.js";

// A round step (1, 2 or 5 times a power of ten) that cuts 0..peak into about four parts.
function niceStep(peak) {
  const rough = Math.max(1, peak / 4), power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

export function chart(buckets, width) {
  const height = 220, left = 44, right = 8, top = 10, bottom = 28;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const peak = Math.max(1, ...buckets.map((b) => b.total));
  const step = niceStep(peak);
  const scaleTop = step * Math.ceil(peak / step);
  const y = (n) => top + plotHeight - (n / scaleTop) * plotHeight;
  const slot = plotWidth / buckets.length, gap = slot > 6 ? 2 : 0;
  const yTicks = [];
  for (let n = 0; n <= scaleTop; n += step) {
    yTicks.push(`<line class="grid" x1="${left}" x2="${width - right}" y1="${y(n)}" y2="${y(n)}"></line>
      <text class="tick y" x="${left - 6}" y="${y(n) + 4}">${n}</text>`);
  }
  const every = Math.ceil(56 / slot);  // a time label needs about 56 px
  const xTicks = buckets.map((b, i) => i % every ? "" : `<text class="tick x" x="${left + i * slot}" y="${height - 8}">
      ${esc(new Date(b.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }))}</text>
      <line class="axis" x1="${left + i * slot}" x2="${left + i * slot}" y1="${top + plotHeight}"
        y2="${top + plotHeight + 4}"></line>`).join("");
  const bars = buckets.map((b, i) => {
    let base = 0;
    return STATUSES.filter((s) => b.counts[s]).map((s) => {
      const from = y(base), to = y(base += b.counts[s]);
      return `<rect class="s-${s}" x="${left + i * slot + gap / 2}" y="${to}" width="${Math.max(1, slot - gap)}"
        height="${from - to}"><title>${esc(when(b.start))}: ${b.counts[s]} ${s}</title></rect>`;
    }).join("");
  }).join("");
  const legend = STATUSES.map((s) => `<span><i class="swatch s-${s}"></i>${s}</span>`).join("");
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"
      aria-label="Deliveries per hour, from 0 to ${scaleTop}">${yTicks.join("")}${xTicks}${bars}
      <line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}"></line>
      <line class="axis" x1="${left}" x2="${width - right}" y1="${top + plotHeight}" y2="${top + plotHeight}"></line>
    </svg><div class="legend">${legend}</div>`;
}

// Draws into `box` now and again whenever the window is resized, until `ctx` leaves the page.
export function drawChart(box, buckets, ctx) {
  const draw = () => { box.innerHTML = chart(buckets, Math.max(260, box.clientWidth)); };
  draw();
  let timer;
  const resized = () => { clearTimeout(timer); timer = setTimeout(draw, 150); };
  window.addEventListener("resize", resized);
  ctx.onLeave(() => window.removeEventListener("resize", resized));
}
