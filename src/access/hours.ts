import { DAYS, type Day, type HoursConfig } from "../config/policy-schema.js";

/**
 * Request hours: is a role requestable at an instant, and if not, when does it open next? Local
 * time comes from Intl (the IANA zone database Node ships), so daylight-saving changes are the
 * zone's own. Pure: the instant is passed in.
 */

interface Local {
  day: Day;
  /** Minutes since local midnight. */
  minute: number;
  date: { y: number; m: number; d: number };
}

const WEEKDAY: Record<string, Day> = {
  Mon: "mon",
  Tue: "tue",
  Wed: "wed",
  Thu: "thu",
  Fri: "fri",
  Sat: "sat",
  Sun: "sun",
};

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      weekday: "short",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock reading in `timeZone` at `at`. */
export function localTime(at: Date, timeZone: string): Local & { second: number } {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return {
    day: WEEKDAY[parts.weekday!]!,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    second: Number(parts.second),
    date: { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day) },
  };
}

const minutes = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
const dayBefore = (d: Day): Day => DAYS[(DAYS.indexOf(d) + 6) % 7]!;

/** Is local time `t` inside one of the open ranges? A range with to <= from runs past midnight. */
function isOpen(rule: HoursConfig, t: Local): boolean {
  return rule.open.some((r) => {
    const from = minutes(r.from);
    const to = minutes(r.to);
    if (from < to) return r.days.includes(t.day) && t.minute >= from && t.minute < to;
    return (r.days.includes(t.day) && t.minute >= from) || (r.days.includes(dayBefore(t.day)) && t.minute < to);
  });
}

/**
 * Local date + minutes since midnight as an instant. Of two instants with that reading (the
 * hour repeated when clocks go back) the first; a reading the zone skips ("02:30" on the
 * spring-forward day) becomes the moment the clock jumps past it.
 */
function instantOf(date: { y: number; m: number; d: number }, minute: number, timeZone: string): number {
  const wanted = Date.UTC(date.y, date.m - 1, date.d, 0, minute);
  const reading = (at: number) => {
    const l = localTime(new Date(at), timeZone);
    return Date.UTC(l.date.y, l.date.m - 1, l.date.d, 0, l.minute) + l.second * 1000;
  };
  // The zone's offsets a day either side (a zone changes its offset at most once within that).
  const offsets = [...new Set([wanted - 86_400_000, wanted + 86_400_000].map((t) => reading(t) - t))];
  const candidates = offsets.map((o) => wanted - o).sort((x, y) => x - y);
  const exact = candidates.find((t) => reading(t) === wanted);
  if (exact !== undefined) return exact;
  let lo = candidates[0]!;
  let hi = candidates.at(-1)!;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (reading(mid) >= wanted) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Adds days to a local calendar date. */
function addDays(date: { y: number; m: number; d: number }, n: number) {
  const t = new Date(Date.UTC(date.y, date.m - 1, date.d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

export type HoursAnswer = { open: true } | { open: false; nextOpen: Date | undefined };

/** Is the role requestable at `at`; if not, the next instant it opens (within the coming 8 days). */
export function decideHours(rule: HoursConfig, at: Date): HoursAnswer {
  const now = localTime(at, rule.timeZone);
  if (isOpen(rule, now)) return { open: true };
  let next: number | undefined;
  for (let n = 0; n <= 8; n++) {
    const date = addDays(now.date, n);
    const day = DAYS[(DAYS.indexOf(now.day) + n) % 7]!;
    for (const r of rule.open) {
      if (!r.days.includes(day)) continue;
      const t = instantOf(date, minutes(r.from), rule.timeZone);
      if (t > at.getTime() && (next === undefined || t < next)) next = t;
    }
    if (next !== undefined) break;
  }
  return { open: false, nextOpen: next === undefined ? undefined : new Date(next) };
}

const DAY_NAMES: Record<Day, string> = {
  mon: "Mon",
  tue: "Tue",
  wed: "Wed",
  thu: "Thu",
  fri: "Fri",
  sat: "Sat",
  sun: "Sun",
};

/** "Mon-Fri 08:00-18:00, Sat 10:00-12:00 (Europe/Berlin)" */
export function describeHours(rule: HoursConfig): string {
  const days = (list: readonly Day[]) => {
    const sorted = DAYS.filter((d) => list.includes(d));
    const idx = sorted.map((d) => DAYS.indexOf(d));
    const contiguous = idx.every((v, i) => i === 0 || v === idx[i - 1]! + 1);
    return contiguous && sorted.length > 2
      ? `${DAY_NAMES[sorted[0]!]}-${DAY_NAMES[sorted.at(-1)!]}`
      : sorted.map((d) => DAY_NAMES[d]).join(",");
  };
  return `${rule.open.map((r) => `${days(r.days)} ${r.from}-${r.to}`).join(", ")} (${rule.timeZone})`;
}

/** "Mon 2026-01-05 08:00 Europe/Berlin" */
export function formatLocal(at: Date, timeZone: string): string {
  const l = localTime(at, timeZone);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${DAY_NAMES[l.day]} ${l.date.y}-${pad(l.date.m)}-${pad(l.date.d)} ${pad(Math.floor(l.minute / 60))}:${pad(l.minute % 60)} ${timeZone}`;
}
