import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { LineReader } from "./lines.js";
import type { AuditRecord } from "./record.js";

/** Audit segments are audit-00000001.jsonl, audit-00000002.jsonl, ...; the chain runs across them. */
const SEGMENT = /^audit-(\d{8})\.jsonl$/;

export const segmentName = (index: number) => `audit-${String(index).padStart(8, "0")}.jsonl`;

export interface Segment {
  index: number;
  path: string;
}

/** The segments in a directory, in chain order. */
export async function listSegments(dir: string): Promise<Segment[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names
    .map((name) => ({ name, m: SEGMENT.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map(({ name, m }) => ({ index: Number(m[1]), path: join(dir, name) }))
    .sort((a, b) => a.index - b.index);
}

/** The first complete line of a segment (for locating a sequence number), or undefined. */
async function firstLine(path: string): Promise<string | undefined> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const end = buf.subarray(0, bytesRead).indexOf(0x0a);
    return end < 0 ? undefined : buf.subarray(0, end).toString("utf8");
  } finally {
    await fh.close();
  }
}

/** The sequence number of a segment's first record, or undefined if it has none (or it does not parse). */
async function firstSeq(path: string): Promise<number | undefined> {
  const line = await firstLine(path);
  try {
    return line === undefined ? undefined : (JSON.parse(line) as AuditRecord).seq;
  } catch {
    return undefined;
  }
}

/** The segment that holds record `seq` (the last one starting at or before it), if any. */
export async function segmentOf(segments: readonly Segment[], seq: number): Promise<Segment | undefined> {
  let chosen: Segment | undefined;
  for (const s of segments) {
    const first = await firstSeq(s.path);
    if (first === undefined || first > seq) break;
    chosen = s;
  }
  return chosen;
}

/** Record `seq` as the log holds it, read by streaming its segment; undefined if it is not there. */
export async function findRecord(dir: string, seq: number): Promise<AuditRecord | undefined> {
  const segment = await segmentOf(await listSegments(dir), seq);
  if (!segment) return undefined;
  const reader = await LineReader.open(segment.path);
  try {
    for (let lines = await reader.next(); lines; lines = await reader.next()) {
      for (const line of lines) {
        let r: AuditRecord;
        try {
          r = JSON.parse(line.text) as AuditRecord;
        } catch {
          continue;
        }
        if (r.seq === seq) return r;
      }
    }
    return undefined;
  } finally {
    await reader.close();
  }
}
