// Line diffs for comparing two versions of something (the Templates page's versions).

// The table of common-subsequence lengths grows as the product of the two sides' changed
// lines; past this many cells (~16 MB of Uint32) a comparison would stall the tab, so it is
// declined instead. Versions of a template are tens to hundreds of lines apart.
const MAX_CELLS = 4_000_000;

// A value as indented JSON with every object's keys sorted, so that two values' texts differ
// only where their content does, not where their keys happen to be in another order.
export function jsonLines(value) {
  const sorted = (v) => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
    }
    return v;
  };
  return JSON.stringify(sorted(value), null, 2);
}

// The lines of `after` against those of `before`, by longest common subsequence:
// [{op: "same" | "del" | "add", line}], a change's removed lines before its added ones.
// null when the two are too far apart to compare (see MAX_CELLS).
export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  // Lines equal at both ends are common to any alignment: only the middle needs the table.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  if ((x.length + 1) * (y.length + 1) > MAX_CELLS) return null;
  // common[i][j]: the length of the longest common subsequence of x[i..] and y[j..].
  const common = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i -= 1) {
    for (let j = y.length - 1; j >= 0; j -= 1) {
      common[i][j] = x[i] === y[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const out = a.slice(0, start).map((line) => ({ op: "same", line }));
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push({ op: "same", line: x[i] });
      i += 1;
      j += 1;
    } else if (j === y.length || (i < x.length && common[i + 1][j] >= common[i][j + 1])) {
      out.push({ op: "del", line: x[i] });
      i += 1;
    } else {
      out.push({ op: "add", line: y[j] });
      j += 1;
    }
  }
  return out.concat(a.slice(endA).map((line) => ({ op: "same", line })));
}
