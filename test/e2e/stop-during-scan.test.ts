import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { startDaemon, writeConfig } from "../helpers/daemon.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * SIGTERM while a child process runs (an nmap scan; ssh-keygen is the same) is a clean stop,
 * exit 0. execa's child cleanup listens for signals too (signal-exit) and re-raises a signal
 * nobody else listens to any more: with the daemon's handler registered once(), it was gone by
 * then, and the daemon died of its own SIGTERM mid-shutdown (exit status null, signal SIGTERM),
 * which one full test run in about forty hit in test/e2e/restart.test.ts.
 * The nmap here is the real one behind a wrapper that first waits, so that the scan is surely
 * running when the signal comes.
 */
test("SIGTERM while an nmap scan runs: the daemon finishes its shutdown and exits 0", async () => {
  const dir = tempDir("slow-nmap");
  const started = join(dir, "started");
  const wrapper = join(dir, "nmap");
  writeFileSync(
    wrapper,
    `#!/bin/sh\ncase "$*" in *--version*) exec ${tool("nmap")} "$@";; esac\ntouch ${started}\nsleep 5\nexec ${tool("nmap")} "$@"\n`,
    { mode: 0o755 },
  );
  let scan: Promise<unknown> | undefined;
  const daemon = await startDaemon({ configPath: writeConfig(e2eConfig({ extra: { scanning: { nmap: wrapper } } })) });
  try {
    const token = await daemon.addUser("ada", ["admins"]);
    // A manual scan answers when it is done: not awaited, it is the child running at the signal.
    scan = api(daemon, "POST", "/v1/scans", { token, body: { host: "web-1" } }).catch(() => undefined);
    const until = Date.now() + 10_000;
    while (!existsSync(started)) {
      if (Date.now() > until) throw new Error("the scan did not start within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    const stopped = await daemon.stop();
    expect({ code: stopped.code, signal: stopped.signal }, stopped.stderr.slice(-2000)).toEqual({
      code: 0,
      signal: null,
    });
    expect(stopped.stdout + stopped.stderr).toContain("sshcad stopped");
    await scan;
  }
});
