import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Rec {
  seq: number;
  type: string;
  actor: string;
  time: string;
  fields: Record<string, any>;
  hash: string;
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

/** The live state as the daemon loads it: the snapshot plus its journal. */
export async function liveState(dataDir: string): Promise<{ requests: Record<string, unknown>; [k: string]: unknown }> {
  const { JournaledJsonFile } = await import("../../src/store/journaled-file.js");
  const { STATE_COLLECTIONS } = await import("../../src/store/state.js");
  const f = new JournaledJsonFile<{ requests: Record<string, unknown> }>(
    join(dataDir, "state.json"),
    STATE_COLLECTIONS,
  );
  return (await f.read()) ?? { requests: {} };
}
