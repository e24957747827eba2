import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileSafely } from "../safe-write.js";
import type { CompanionState } from "./tracker.js";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** A new stream id: 16 base32 characters (80 bits), as the daemon expects. */
export function newStream(random: (n: number) => Buffer = randomBytes): string {
  return [...random(16)].map((b) => BASE32[b & 31]).join("");
}

export function freshState(random?: (n: number) => Buffer): CompanionState {
  return { format: "sshca-host/1", stream: newStream(random), seq: 0, open: {}, pending: [], managed: [] };
}

function valid(doc: unknown): doc is CompanionState {
  const d = doc as Partial<CompanionState> | null;
  return (
    typeof d === "object" &&
    d !== null &&
    d.format === "sshca-host/1" &&
    typeof d.stream === "string" &&
    /^[a-z2-7]{16}$/.test(d.stream) &&
    Number.isSafeInteger(d.seq) &&
    typeof d.open === "object" &&
    d.open !== null &&
    Array.isArray(d.pending) &&
    Array.isArray(d.managed)
  );
}

/**
 * The companion's state file. A missing one starts a new stream; a damaged one is kept aside
 * (state.json.damaged-<time>) and a new stream started, so the KRL keeps being synced whatever
 * happened to the file (its unsent events are in the damaged copy, and its sessions' logouts
 * will not be reported).
 */
export async function loadState(path: string, log: (line: string) => void): Promise<CompanionState> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return freshState();
    throw err;
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (valid(doc)) return doc;
  } catch {
    // fall through
  }
  const aside = `${path}.damaged-${Date.now()}`;
  await rename(path, aside);
  log(`state file ${path} was damaged; kept as ${aside}, starting a new stream`);
  return freshState();
}

export async function saveState(path: string, state: CompanionState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileSafely(path, `${JSON.stringify(state)}\n`, 0o600);
}
