import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { ROOT, SSHCAD, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { run, start } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { freePort } from "../helpers/listeners.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/** What a new operator hits in the first minutes: the banner, help, version, flags, token files. */

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startDaemon({ configPath: writeConfig(e2eConfig()) });
});
afterAll(() => daemon?.stop());

describe("sshcad for a first-time operator", () => {
  test("--version, and --help describes every command, nested ones included", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const v = await run(process.execPath, [SSHCAD, "--version"]);
    expect(v.stdout).toBe(`${pkg.version}\n`);
    const help = await run(process.execPath, [SSHCAD, "--help"]);
    expect(help.code).toBe(0);
    for (const cmd of [
      "user add <name>",
      "user disable <name>",
      "user enable <name>",
      "user remove <name>",
      "user key remove <name> <fingerprint>",
      "token revoke <tokenId>",
      "audit verify",
      "config check",
    ]) {
      expect(help.stdout).toMatch(new RegExp(`\\n  ${cmd.replace(/[<>]/g, (c) => `\\${c}`)} +\\S`));
    }
    expect(help.stdout).not.toMatch(/\n {2}config\s*\n/); // every command has a description
  });

  test("serve --port sets the listen port without copying the config", async () => {
    const port = await freePort();
    const dataDir = join(tempDir("port"), "d");
    const p = start(process.execPath, [
      SSHCAD,
      "--config",
      writeConfig(e2eConfig()),
      "--data-dir",
      dataDir,
      "serve",
      "--port",
      String(port),
    ]);
    try {
      const m = await p.waitFor(/sshcad listening on (\S+)/, 20_000);
      expect(m[1]).toBe(`https://127.0.0.1:${port}`);
    } finally {
      p.proc.kill("SIGTERM");
      await p.done;
    }
    const bad = await run(process.execPath, [
      SSHCAD,
      "--config",
      writeConfig(e2eConfig()),
      "--data-dir",
      dataDir,
      "serve",
      "--port",
      "http",
    ]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toBe("sshcad: --port http is not a port number\n");
  });

  test("the banner's next commands work as printed, from a checkout, without sshcad on PATH", async () => {
    // The operator started the daemon in the checkout: `node dist/src/main.js serve ...`.
    const home = tempDir("banner-home");
    const dataDir = join(tempDir("banner"), "d");
    const configPath = writeConfig(e2eConfig({ extra: { users: {} } }));
    const env = { PATH: "/usr/bin:/bin", HOME: home, XDG_CONFIG_HOME: join(home, ".config") };
    const nodeDir = join(process.execPath, "..");
    const proc = start(process.execPath, ["dist/src/main.js", "--config", configPath, "--data-dir", dataDir, "serve"], {
      cwd: ROOT,
      env: { ...env, PATH: `${nodeDir}:${env.PATH}` },
    });
    const token = join(ROOT, "alice.token");
    try {
      await proc.waitFor(/sshcad listening on/, 20_000);
      const next = proc
        .stderr()
        .split("Next (in another shell):\n")[1]!
        .split("\n")
        .filter((l) => l.startsWith("  "))
        .map((l) => l.replace(/\s+#.*$/, "").trim());
      expect(next[0]).toMatch(
        /^node dist\/src\/main\.js --config \S+ --data-dir \S+ user add alice --group dev --token-file alice\.token$/,
      );
      expect(next.slice(1).every((l) => l.startsWith("node dist/cli/main.js "))).toBe(true);
      // Each line, run by a shell in the checkout, as the operator would paste it (login waits
      // for an approval, so it is started with --no-wait here).
      for (const line of next) {
        const cmd = line.includes(" login ") ? `${line} --no-wait -i ${join(home, "key")}` : line;
        if (line.includes(" login "))
          await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", join(home, "key")]);
        const r = await run("/bin/sh", ["-c", cmd], { cwd: ROOT, env: { ...env, PATH: `${nodeDir}:${env.PATH}` } });
        expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
      }
      expect(mode(token)).toBe("600");
    } finally {
      rmSync(token, { force: true });
      proc.proc.kill("SIGTERM");
      await proc.done;
    }
  });

  test("--token-file writes a new 0600 file and never an existing one (nothing is created then)", async () => {
    const dir = tempDir("tokfile");
    const file = join(dir, "zed.token");
    const r = await daemon.sshcad(["user", "add", "zed", "--group", "dev", "--token-file", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(mode(file)).toBe("600");
    expect(readFileSync(file, "utf8")).toMatch(/^sshca_\S+\n$/);
    const exists = join(dir, "taken");
    writeFileSync(exists, "keep me");
    const again = await daemon.sshcad(["user", "add", "yan", "--group", "dev", "--token-file", exists]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/taken exists; a token is written only to a new file \(nothing was changed\)/);
    expect(readFileSync(exists, "utf8")).toBe("keep me");
    expect(auditRecords(daemon.dataDir).some((x) => x.type === "user.added" && x.fields.user === "yan")).toBe(false);
  });

  test("user key add refuses a private key locally and sends nothing; --ssh-key explains the token", async () => {
    const dir = tempDir("privkey");
    const key = join(dir, "id_ed25519");
    await run(tool("ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const added = await daemon.sshcad(["user", "add", "kim", "--group", "dev", "--ssh-key", `${key}.pub`]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toMatch(/kim signs in with the SSH key \(sshca auth ssh\); the API token also works/);
    const seqBefore = auditRecords(daemon.dataDir).length;
    const r = await daemon.sshcad(["user", "key", "add", "kim", key]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sshcad: ${key} is a private key; give the public key (${key}.pub); nothing was sent\n`);
    expect(auditRecords(daemon.dataDir).length).toBe(seqBefore);
    // The first base64 line is the same header in every unencrypted key; the lines after it
    // carry this key (its private half included).
    const body = readFileSync(key, "utf8")
      .split("\n")
      .slice(2)
      .filter((l) => /^[A-Za-z0-9+/=]{20,}$/.test(l));
    expect(body.length).toBeGreaterThan(2);
    for (const line of body) expect(daemon.proc.stdout() + daemon.proc.stderr()).not.toContain(line);
  });
});
