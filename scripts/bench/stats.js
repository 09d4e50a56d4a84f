'use strict';

function sorted(values) {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

/** Linear-interpolated quantile of the finite values (NaN when there are none). */
function quantile(values, q) {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function summary(values) {
  const s = sorted(values);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    min: s.length ? s[0] : NaN,
    max: s.length ? s[s.length - 1] : NaN,
    q1: quantile(s, 0.25),
    q3: quantile(s, 0.75),
  };
}

module.exports = { quantile, summary, median: (v) => quantile(v, 0.5) };
