/**
 * Deterministic JSON: object keys sorted, no whitespace, undefined members dropped. Used
 * wherever bytes are hashed (request digests, audit hash chain) so equal data hashes equal.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const out = JSON.stringify(value);
    if (out === undefined) throw new TypeError(`cannot encode ${typeof value} canonically`);
    return out;
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(",")}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(",")}}`;
}
