import type { AuditFilter } from "./query.js";
import type { AuditRecord } from "./record.js";

/**
 * The audit index stores, for every record, the look-up keys it can be found by: a prefix
 * naming the kind and the value ("r:rq_..."). A filter becomes clauses of keys: a record matches
 * when it has at least one key of every clause. Pure functions, shared by indexing and querying.
 */
export type Clause = readonly string[];

const str = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 512;

/** The keys a record is indexed under, without duplicates. */
export function recordKeys(r: AuditRecord): string[] {
  const f = r.fields as {
    request?: unknown;
    requester?: unknown;
    user?: unknown;
    serial?: unknown;
    scan?: unknown;
    host?: unknown;
    hosts?: unknown;
  };
  const keys = new Set<string>([`t:${r.type}`, `f:${r.type.split(".")[0]}`]);
  for (const u of [r.actor, f.requester, f.user]) if (str(u)) keys.add(`u:${u}`);
  if (str(f.requester)) keys.add(`q:${f.requester}`);
  if (str(f.request)) keys.add(`r:${f.request}`);
  if (str(f.serial)) keys.add(`s:${f.serial}`);
  if (str(f.scan)) keys.add(`c:${f.scan}`);
  if (str(f.host)) keys.add(`h:${f.host}`);
  if (Array.isArray(f.hosts)) for (const h of f.hosts) if (str(h)) keys.add(`h:${h}`);
  return [...keys];
}

/** The clauses a filter's key conditions make (time is not a key). An empty clause matches nothing. */
export function filterClauses(f: AuditFilter): Clause[] {
  const clauses: Clause[] = [];
  if (f.request !== undefined) clauses.push([`r:${f.request}`]);
  if (f.serial !== undefined) clauses.push([`s:${f.serial}`]);
  if (f.scan !== undefined) clauses.push([`c:${f.scan}`]);
  if (f.user !== undefined) clauses.push([`u:${f.user}`]);
  if (f.host !== undefined) clauses.push([`h:${f.host}`]);
  if (f.type !== undefined) clauses.push([f.type.includes(".") ? `t:${f.type}` : `f:${f.type}`]);
  if (f.types !== undefined) clauses.push(f.types.map((t) => `t:${t}`));
  if (f.visibleTo !== undefined) {
    clauses.push([`q:${f.visibleTo.requester}`, ...f.visibleTo.hosts.map((h) => `h:${h}`)]);
  }
  return clauses;
}
