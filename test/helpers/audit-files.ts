import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Rec {
  seq: number;
  type: string;
  actor: string;
  time: string;
  fields: Record<string, any>;
}

/** Every record of a data directory's audit log, read straight from the segment files. */
export function auditRecords(dataDir: string): Rec[] {
  const dir = join(dataDir, "audit");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"))
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
}
