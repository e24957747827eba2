import type { DatabaseSync } from "node:sqlite";

/**
 * node:sqlite is an experimental module in early Node 24 releases and says so once on load.
 * That one warning is dropped here (the index worker loads it, so only in that thread); every
 * other warning goes through.
 */
export async function loadSqlite(): Promise<typeof DatabaseSync> {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && String(warning).includes("SQLite")) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return (await import("node:sqlite")).DatabaseSync;
  } finally {
    process.emitWarning = emit;
  }
}
