import { readdir } from "node:fs/promises";
import { join } from "node:path";

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
