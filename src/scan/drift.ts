import type { Drift, PortResult } from "../domain/scan.js";

const key = (p: PortResult) => `${p.port}/${p.protocol}`;
const serviceOf = (p: PortResult) => [p.service ?? "", p.product ?? "", p.version ?? ""].join("|");

/**
 * Compares the after-access scan with the issue-time scan (when there is a usable one) and
 * with the host's expected ports. Pure.
 */
export function computeDrift(
  before: { id: string; open: readonly PortResult[] } | undefined,
  after: readonly PortResult[],
  expectedPorts: readonly number[],
): Drift {
  const openNow = after.filter((p) => p.state === "open");
  const nowByKey = new Map(openNow.map((p) => [key(p), p]));
  const drift: Drift = {
    newlyOpen: [],
    newlyClosed: [],
    serviceChanged: [],
    unexpectedOpen: openNow.filter((p) => !expectedPorts.includes(p.port)),
    expectedClosed: expectedPorts.filter((port) => !openNow.some((p) => p.port === port && p.protocol === "tcp")),
  };
  if (before) {
    drift.baseline = before.id;
    const beforeByKey = new Map(before.open.map((p) => [key(p), p]));
    drift.newlyOpen = openNow.filter((p) => !beforeByKey.has(key(p)));
    drift.newlyClosed = before.open.filter((p) => !nowByKey.has(key(p)));
    for (const p of openNow) {
      const was = beforeByKey.get(key(p));
      if (was && serviceOf(was) !== serviceOf(p)) drift.serviceChanged.push({ before: was, after: p });
    }
  }
  return drift;
}

/**
 * Is there anything to alert on? A change during the access window, or a port open that the
 * host is not expected to expose. An expected port that was already closed at issue is
 * recorded (expectedClosed) but is not a change.
 */
export function hasDrift(d: Drift): boolean {
  return d.newlyOpen.length + d.newlyClosed.length + d.serviceChanged.length + d.unexpectedOpen.length > 0;
}

/** "newly open 8080/tcp; unexpected open 8080/tcp" */
export function describeDrift(d: Drift): string {
  const ports = (ps: readonly PortResult[]) =>
    ps.map((p) => `${p.port}/${p.protocol}${p.service ? ` (${p.service})` : ""}`).join(", ");
  const parts: string[] = [];
  if (d.newlyOpen.length) parts.push(`newly open ${ports(d.newlyOpen)}`);
  if (d.newlyClosed.length) parts.push(`newly closed ${ports(d.newlyClosed)}`);
  if (d.serviceChanged.length)
    parts.push(`service changed on ${d.serviceChanged.map((c) => `${c.after.port}/${c.after.protocol}`).join(", ")}`);
  if (d.unexpectedOpen.length) parts.push(`open but not expected ${ports(d.unexpectedOpen)}`);
  if (d.expectedClosed.length) parts.push(`expected but not open ${d.expectedClosed.join(", ")}`);
  return parts.join("; ") || "no change";
}

/** Do two scans show the same open ports (and services)? A watch that finds what the last one found raises nothing new. Pure. */
export function sameOpen(before: readonly PortResult[], after: readonly PortResult[]): boolean {
  const a = before
    .filter((p) => p.state === "open")
    .map((p) => `${key(p)}|${serviceOf(p)}`)
    .sort();
  const b = after
    .filter((p) => p.state === "open")
    .map((p) => `${key(p)}|${serviceOf(p)}`)
    .sort();
  return a.length === b.length && a.every((k, i) => k === b[i]);
}
