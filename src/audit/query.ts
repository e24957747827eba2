import type { AuditRecord } from "./record.js";
import { firstLine, listSegments, readSegment } from "./segments.js";

export interface AuditFilter {
  /** Records by this user or about them (requester, user added). */
  user?: string | undefined;
  request?: string | undefined;
  /** Exact type ("request.approved") or a family ("request"). */
  type?: string | undefined;
  /** Any of these exact types. */
  types?: readonly string[] | undefined;
  /** Records about this inventory host. */
  host?: string | undefined;
  /** Any further condition (visibility), applied before `limit`. */
  where?: ((r: AuditRecord) => boolean) | undefined;
  since?: Date | undefined;
  /** Most recent matches to return. */
  limit: number;
}

/** Does one record match the filter? Pure. */
export function matches(r: AuditRecord, f: AuditFilter): boolean {
  const fields = r.fields as { request?: unknown; requester?: unknown; user?: unknown };
  if (f.user !== undefined && r.actor !== f.user && fields.requester !== f.user && fields.user !== f.user) return false;
  if (f.request !== undefined && fields.request !== f.request) return false;
  if (f.type !== undefined && r.type !== f.type && !r.type.startsWith(`${f.type}.`)) return false;
  if (f.types !== undefined && !f.types.includes(r.type)) return false;
  if (f.host !== undefined && (r.fields as { host?: unknown }).host !== f.host) return false;
  if (f.where !== undefined && !f.where(r)) return false;
  if (f.since !== undefined && Date.parse(r.time) < f.since.getTime()) return false;
  return true;
}

/**
 * The newest `limit` matching records, oldest first. Segments that end before `since` are
 * skipped without being read (the next segment starts later than `since`).
 */
export async function queryAudit(dir: string, filter: AuditFilter): Promise<AuditRecord[]> {
  const segments = await listSegments(dir);
  const out: AuditRecord[] = [];
  for (let i = 0; i < segments.length; i++) {
    if (filter.since && i + 1 < segments.length) {
      const next = await firstLine(segments[i + 1]!.path);
      if (next && Date.parse((JSON.parse(next) as AuditRecord).time) < filter.since.getTime()) continue;
    }
    const { lines } = await readSegment(segments[i]!.path);
    for (const line of lines) {
      let r: AuditRecord;
      try {
        r = JSON.parse(line) as AuditRecord;
      } catch {
        continue; // `audit verify` reports damage; a query shows what can be read
      }
      if (matches(r, filter)) {
        out.push(r);
        if (out.length > filter.limit) out.shift();
      }
    }
  }
  return out;
}

/** The newest record matching `pred`, reading segments newest first and stopping at the match. */
export async function findAudit(dir: string, pred: (r: AuditRecord) => boolean): Promise<AuditRecord | undefined> {
  const segments = await listSegments(dir);
  for (let i = segments.length - 1; i >= 0; i--) {
    const { lines } = await readSegment(segments[i]!.path);
    for (let j = lines.length - 1; j >= 0; j--) {
      let r: AuditRecord;
      try {
        r = JSON.parse(lines[j]!) as AuditRecord;
      } catch {
        continue;
      }
      if (pred(r)) return r;
    }
  }
  return undefined;
}
