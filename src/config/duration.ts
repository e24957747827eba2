/**
 * Durations in config and API input: "90s", "15m", "1h30m", "7d", or a plain number of
 * seconds. Returns whole seconds, or undefined when the text is not a duration.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/;

export function parseDuration(input: string | number): number | undefined {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  const text = input.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = DURATION.exec(text);
  if (!m || text === "") return undefined;
  const [, d, h, mi, s] = m;
  return (
    Number(d ?? 0) * UNIT_SECONDS.d! +
    Number(h ?? 0) * UNIT_SECONDS.h! +
    Number(mi ?? 0) * UNIT_SECONDS.m! +
    Number(s ?? 0)
  );
}

/** Formats seconds the way parseDuration reads them, largest units first ("1h30m"). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  let rest = Math.floor(seconds);
  let out = "";
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
