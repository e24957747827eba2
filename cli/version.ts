import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The version of the sshca package this CLI belongs to, from its package.json: the nearest one
 * above this file (dist/cli/ when built, cli/ in a checkout) whose name is "sshca".
 */
export function packageVersion(from = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "sshca" && pkg.version) return pkg.version;
    } catch {
      // not here; look further up
    }
    if (dirname(dir) === dir) return "unknown";
  }
}
