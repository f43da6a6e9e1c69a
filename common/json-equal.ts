// Equality of JSON values as JSON sees them: key order does not matter and a key holding
// `undefined` is the same as no key. What canonicalJson(a) === canonicalJson(b) answers, without
// building two strings (the store checks every task update's spec this way).

export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let defined = 0;
  for (const k in ra) {
    const v = ra[k];
    if (v === undefined) continue;
    defined++;
    if (!jsonEqual(v, rb[k])) return false;
  }
  for (const k in rb) if (rb[k] !== undefined) defined--;
  return defined === 0;
};
