import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { SSHCAD, startDaemon, writeConfig } from "../helpers/daemon.js";
import { makePerson } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { parseToken } from "../../src/auth/tokens.js";

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("operator commands", () => {
  test("init creates a 0700 data dir and a 0600 Ed25519 CA key, and never overwrites it", async () => {
    const dataDir = join(tempDir("init"), "data");
    const configPath = writeConfig(e2eConfig());
    const init = (extraEnv = {}) =>
      run(process.execPath, [SSHCAD, "--config", configPath, "--data-dir", dataDir, "init"], {
        env: { ...process.env, ...extraEnv },
      });
    const first = await init();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("Created CA key");
    expect(first.stdout).toMatch(/^ssh-ed25519 AAAA\S+ sshca-user-ca\n$/);
    const key = join(dataDir, "ca", "ca_key");
    const before = readFileSync(key, "utf8");
    expect(before).toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(mode(dataDir)).toBe("700");
    expect(mode(join(dataDir, "ca"))).toBe("700");
    expect(mode(key)).toBe("600");

    const second = await init();
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("exists; left untouched");
    expect(readFileSync(key, "utf8")).toBe(before);
    expect(second.stdout).toBe(first.stdout);
  });

  test("user, token and key commands refuse where no data directory exists, instead of creating a second CA", async () => {
    const dataDir = join(tempDir("nodata"), "data");
    const configPath = writeConfig(e2eConfig());
    for (const args of [
      ["user", "add", "alice", "--group", "dev"],
      ["user", "list"],
      ["token", "list"],
      ["user", "disable", "alice"],
    ]) {
      const r = await run(process.execPath, [SSHCAD, "--config", configPath, "--data-dir", dataDir, ...args]);
      expect(r.code, args.join(" ")).toBe(78);
      expect(r.stderr).toMatch(
        /^sshcad: no sshcad data directory at .*start the daemon \(sshcad serve\) or run sshcad init first/,
      );
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  test.each([
    { name: "empty", content: "", message: /state file .* is empty; refusing to start/ },
    { name: "corrupt", content: '{"format":"sshca-state/1","requests":{', message: /is corrupt .*never resets state/ },
  ])("an $name state file stops the daemon with a clear message and is left alone", async ({ content, message }) => {
    const dataDir = join(tempDir("state"), "data");
    const configPath = writeConfig(e2eConfig());
    const sshcad = (args: string[]) =>
      run(process.execPath, [SSHCAD, "--config", configPath, "--data-dir", dataDir, ...args]);
    expect((await sshcad(["init"])).code).toBe(0);
    writeFileSync(join(dataDir, "state.json"), content);
    const r = await sshcad(["serve"]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(message);
    expect(readFileSync(join(dataDir, "state.json"), "utf8")).toBe(content);
  });

  test("user add prints the token once; only its hash is stored; the log holds no secret", async () => {
    const daemon = await startDaemon({ configPath: writeConfig(e2eConfig()) });
    try {
      const added = await daemon.sshcad(["user", "add", "alice", "--group", "dev"]);
      expect(added.code, added.stderr).toBe(0);
      const token = added.stdout.trim();
      expect(token).toMatch(/^sshca_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
      const secret = parseToken(token)!.secret;
      const stored = [
        readFileSync(join(daemon.dataDir, "state.json"), "utf8"),
        ...readdirSync(join(daemon.dataDir, "audit")).map((f) =>
          readFileSync(join(daemon.dataDir, "audit", f), "utf8"),
        ),
        daemon.proc.stdout(),
        daemon.proc.stderr(),
      ].join("\n");
      expect(stored).toContain("alice");
      expect(stored).not.toContain(secret);
      expect(mode(join(daemon.dataDir, "state.json"))).toBe("600");

      const dup = await daemon.sshcad(["user", "add", "alice", "--group", "dev"]);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toMatch(/^sshcad: user alice already exists/);
      const badGroup = await daemon.sshcad(["user", "add", "eve", "--group", "root"]);
      expect(badGroup.code).toBe(1);
      expect(badGroup.stderr).toContain("unknown group root");

      const alice = await makePerson("alice", daemon, token);
      const me = await alice.sshca(["whoami", "--json"]);
      expect(JSON.parse(me.stdout)).toMatchObject({ user: "alice", groups: ["dev"] });
    } finally {
      await daemon.stop();
    }
  });

  test("settings come from flags, then SSHCA_URL/SSHCA_TOKEN, then the config file", async () => {
    const daemon = await startDaemon({ configPath: writeConfig(e2eConfig()) });
    try {
      const token = await daemon.addUser("alice", ["dev"]);
      const p = await makePerson("alice", "http://127.0.0.1:9", "");
      delete p.env.SSHCA_URL;
      delete p.env.SSHCA_TOKEN;

      const none = await p.sshca(["whoami"]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/^sshca: no server URL/);

      expect((await p.sshca(["bootstrap", "--url", daemon.url, "--fingerprint", daemon.tlsFingerprint!])).code).toBe(0);
      expect((await p.sshca(["token", "set"], `${token}\n`)).code).toBe(0);
      const configFile = join(p.home, ".config", "sshca", "config.json");
      expect(mode(configFile)).toBe("600");
      expect((await p.sshca(["whoami"])).stdout).toContain("alice");

      p.env.SSHCA_URL = "http://127.0.0.1:9"; // the environment beats the file
      const viaEnv = await p.sshca(["whoami"]);
      expect(viaEnv.code).toBe(1);
      expect(viaEnv.stderr).toMatch(/^sshca: cannot reach http:\/\/127\.0\.0\.1:9/);

      const viaFlag = await p.sshca(["--url", daemon.url, "whoami"]); // the flag beats the environment
      expect(viaFlag.code, viaFlag.stderr).toBe(0);

      const badToken = await p.sshca(["token", "set"], "hunter2\n");
      expect(badToken.code).toBe(1);
      const usage = await p.sshca(["login", "--role", "debug"]);
      expect(usage.code).toBe(2);
    } finally {
      await daemon.stop();
    }
  });
});

describe("an encrypted CA key", () => {
  test("is refused without its passphrase, and unlocked from a credential file (LoadCredential)", async () => {
    const dataDir = join(tempDir("enc"), "data");
    const configPath = writeConfig(e2eConfig({ extra: { scanning: { enabled: false } } }));
    const sshcad = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [SSHCAD, "--config", configPath, "--data-dir", dataDir, ...args], {
        env: { ...process.env, ...env },
      });
    expect((await sshcad(["init"])).code).toBe(0);
    const key = join(dataDir, "ca", "ca_key");
    const enc = await run("ssh-keygen", ["-p", "-q", "-P", "", "-N", "correct horse", "-f", key]);
    expect(enc.code, enc.stderr).toBe(0);

    const refused = await sshcad(["serve"]);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain("the CA key is encrypted: provide its passphrase");

    const creds = tempDir("creds");
    writeFileSync(join(creds, "ca-passphrase"), "correct horse\n", { mode: 0o600 });
    const daemon = await startDaemon({ configPath, dataDir, env: { CREDENTIALS_DIRECTORY: creds } });
    try {
      expect(daemon.url).toMatch(/^https:/);
    } finally {
      await daemon.stop();
    }
    const wrong = join(creds, "wrong");
    writeFileSync(wrong, "nope\n");
    const bad = await sshcad(["serve"], { SSHCAD_CA_PASSPHRASE_FILE: wrong });
    expect(bad.code).toBe(78);
  });
});
