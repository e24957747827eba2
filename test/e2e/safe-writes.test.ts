import { lstatSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { e2eConfig, startWorld, type World } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * The CLI's files (settings, `<key>-cert.pub`, the KRL for sshd) sit in directories another
 * account may be able to write to. A symlink planted where the CLI used to put its temp file
 * (`<file>.<pid>.tmp`) must never be written through. The child's pid is not known in advance,
 * so the next few thousand pids all get one.
 */
const SPAN = 3000;

let w: World;
beforeAll(async () => {
  w = await startWorld(e2eConfig());
});
afterAll(() => w?.daemon.stop());

/** Plants `name(pid) -> victim` for the pids the next processes are likely to get. */
function plant(name: (pid: number) => string): string {
  const victim = join(tempDir("victim"), "victim");
  writeFileSync(victim, "precious\n");
  const last = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
  const max = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  for (let i = 1; i <= SPAN; i++) {
    const pid = last + i < max ? last + i : 300 + last + i - max; // the kernel wraps to 300
    symlinkSync(victim, name(pid));
  }
  return victim;
}

describe("CLI writes do not follow symlinks planted at their temp paths", () => {
  test("the settings file (sshca token set)", async () => {
    const p = w.alice;
    const file = join(p.env.XDG_CONFIG_HOME!, "sshca", "config.json");
    const victim = plant((pid) => `${file}.${pid}.tmp`);
    const r = await p.sshca(["token", "set"], `${p.env.SSHCA_TOKEN}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(file).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(file, "utf8")).token).toBe(p.env.SSHCA_TOKEN);
  });

  test("the KRL (sshca krl fetch --out)", async () => {
    const out = join(tempDir("krl"), "sshca_revoked.krl");
    const victim = plant((pid) => join(dirname(out), `.${basename(out)}.${pid}.tmp`));
    const r = await w.bob.sshca(["krl", "fetch", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(out).isFile()).toBe(true);
    expect(readFileSync(out).subarray(0, 6).toString()).toBe("SSHKRL");
  });

  test("the certificate (<key>-cert.pub, written by sshca login)", async () => {
    const cert = `${w.carol.key}-cert.pub`;
    const victim = plant((pid) => `${cert}.${pid}.tmp`);
    const r = await w.carol.sshca(["login", "--role", "selfserve", "--host", "web-1", "--reason", "x", "--no-agent"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(cert).isFile()).toBe(true);
    expect(readFileSync(cert, "utf8")).toMatch(/^ssh-ed25519-cert-v01@openssh\.com /);
  });
});
