import { open, readdir, readFile } from "node:fs/promises";
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

/** All lines of a segment, and whether the last one was terminated (an unterminated one is torn). */
export async function readSegment(path: string): Promise<{ lines: string[]; torn: string | undefined }> {
  const text = await readFile(path, "utf8");
  const lines = text.split("\n");
  const last = lines.pop() ?? "";
  return { lines, torn: last === "" ? undefined : last };
}

/** The first complete line of a segment (for locating a sequence number), or undefined. */
export async function firstLine(path: string): Promise<string | undefined> {
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
