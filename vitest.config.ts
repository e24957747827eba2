import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/global.ts", "test/setup/postgres-template.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites start sshd, nmap and daemons; two workers keep a 2-core box responsive.
    maxWorkers: 2,
    // Worker threads of the code under test load TypeScript sources (see the file).
    execArgv: ["--import", fileURLToPath(new URL("./test/setup/worker-threads.mjs", import.meta.url))],
  },
});
