import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

/** A fresh temp directory, removed at process exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sshca-${prefix}-`));
  made.push(dir);
  return dir;
}

process.on("exit", () => {
  if (process.env.SSHCA_KEEP_TMP) return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
