import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The end-to-end tests run the built sshcad and sshca, as users do; `npm test` builds first. */
export default function setup(): void {
  const root = resolve(import.meta.dirname, "..", "..");
  for (const bin of ["dist/src/main.js", "dist/cli/main.js"]) {
    if (!existsSync(join(root, bin))) throw new Error(`${bin} is missing: run npm run build (npm test does it)`);
  }
}
