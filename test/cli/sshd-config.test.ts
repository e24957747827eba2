import { describe, expect, test } from "vitest";
import { checkSshd, type HostFiles, parseSshdConfig, type TrustedCa } from "../../cli/sshd-config.js";
import { buildKrl } from "../../src/ca/krl.js";

const CA_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEAVn6OtcQU2ijBIK+y4ID4zCwHyNAzj+Qkv8UtrEu+X";
/** What GET /v1/ca says in the steady phase: one key. */
const CA: TrustedCa = {
  keys: [{ publicKey: CA_LINE, fingerprint: "SHA256:current", status: "current" }],
  retired: [],
};
const krl = buildKrl({ sections: [], revokedKeys: [], version: 1n, generatedAt: new Date() });
const fs = (files: Record<string, string | Buffer>): HostFiles => ({
  read: (p) => (p in files ? Buffer.from(files[p]!) : undefined),
  isDir: (p) => Object.keys(files).some((f) => f.startsWith(`${p}/`)),
  glob: (pattern) =>
    Object.keys(files)
      .filter((f) => new RegExp(`^${pattern.replace(/\./g, "\\.").replace(/\*/g, "[^/]*")}$`).test(f))
      .sort(),
});
const good = {
  "/etc/ssh/sshca_user_ca.pub": `${CA_LINE} sshca-user-ca\n`,
  "/etc/ssh/sshca_revoked.krl": krl,
  "/etc/ssh/auth_principals/debug": "debug@web-1\n",
};
/** What `sshca principals --host web-1` says the host needs. */
const web1 = { host: "web-1", principals: { debug: ["debug@web-1"] } };
const base = [
  "TrustedUserCAKeys /etc/ssh/sshca_user_ca.pub",
  "AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u",
  "RevokedKeys /etc/ssh/sshca_revoked.krl",
  "LogLevel VERBOSE",
];
const run = (
  lines: string[],
  files: Record<string, string | Buffer> = good,
  ca: TrustedCa | undefined = CA,
  expected: typeof web1 | undefined = web1,
) => {
  const f = fs(files);
  return checkSshd(parseSshdConfig(lines.join("\n"), f), f, ca, expected);
};
const fails = (lines: string[], files?: Record<string, string | Buffer>, ca?: TrustedCa) =>
  run(lines, files, ca)
    .filter((x) => x.level === "fail")
    .map((x) => `${x.check}: ${x.message}`);

describe("sshca doctor checks", () => {
  test("ok/the setup the README gives", () => {
    expect(run(base).map((f) => f.level)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });

  test.each([
    { name: "no TrustedUserCAKeys", lines: base.slice(1), want: /TrustedUserCAKeys: not set/ },
    {
      name: "another CA's key",
      lines: base,
      files: { ...good, "/etc/ssh/sshca_user_ca.pub": "ssh-ed25519 AAAAother x\n" },
      want: /does not hold this CA's key/,
    },
    {
      name: "one principals file for every account",
      lines: [base[0]!, "AuthorizedPrincipalsFile /etc/ssh/principals", ...base.slice(2)],
      want: /same file for every account/,
    },
    { name: "no RevokedKeys", lines: [...base.slice(0, 2), base[3]!], want: /RevokedKeys: not set/ },
    {
      name: "RevokedKeys file missing (locks everyone out)",
      lines: base,
      files: { "/etc/ssh/sshca_user_ca.pub": good["/etc/ssh/sshca_user_ca.pub"] },
      want: /refuses EVERY public-key login/,
    },
    {
      name: "RevokedKeys not a KRL",
      lines: base,
      files: { ...good, "/etc/ssh/sshca_revoked.krl": "<html>" },
      want: /is not a KRL/,
    },
    { name: "LogLevel INFO", lines: [...base.slice(0, 3), "LogLevel INFO"], want: /LogLevel: INFO: sshd will not log/ },
    { name: "pubkey authentication off", lines: [...base, "PubkeyAuthentication no"], want: /PubkeyAuthentication/ },
  ])("fail/$name", ({ lines, files, want }) => {
    expect(fails(lines, files).join("\n")).toMatch(want);
  });

  test("the first value wins, Include is followed, Match ends the global section", () => {
    const files = { ...good, "/etc/ssh/sshd_config.d/10-sshca.conf": base.join("\n") };
    expect(fails(["Include /etc/ssh/sshd_config.d/*.conf", "LogLevel INFO"], files)).toEqual([]);
    expect(fails(["LogLevel INFO", "Include /etc/ssh/sshd_config.d/*.conf"], files).join()).toMatch(/LogLevel: INFO/);
    expect(fails(["Match User x", ...base]).join()).toMatch(/TrustedUserCAKeys: not set/);
  });
});

describe("sshca doctor and the AuthorizedPrincipalsFile files", () => {
  const principals = (files: Record<string, string | Buffer>, expected: typeof web1 | undefined, lines = base) => {
    const f = fs(files);
    return checkSshd(parseSshdConfig(lines.join("\n"), f), f, CA, expected)
      .filter((x) => x.check === "AuthorizedPrincipalsFile")
      .map((x) => `${x.level} ${x.message}`);
  };
  const { "/etc/ssh/auth_principals/debug": _, ...noPrincipals } = good;

  test.each([
    {
      name: "ok/the file of each login the host's roles grant lists its principals",
      files: { ...good, "/etc/ssh/auth_principals/debug": "# sshca\ndebug@web-1\nother@web-1\n" },
      expected: web1,
      want: "ok /etc/ssh/auth_principals/debug lists what debug needs on web-1",
    },
    {
      name: "fail/a login's file is missing",
      files: { ...noPrincipals, "/etc/ssh/auth_principals/other": "x\n" },
      expected: web1,
      want: "fail /etc/ssh/auth_principals/debug is missing: debug cannot log in with a certificate for web-1 (write it from: sshca principals --host web-1 --user debug)",
    },
    {
      name: "fail/a login's file lacks a principal",
      files: { ...good, "/etc/ssh/auth_principals/debug": "debug@web-2\n" },
      expected: web1,
      want: "fail /etc/ssh/auth_principals/debug does not list debug@web-1 (write it from: sshca principals --host web-1 --user debug)",
    },
    {
      name: "fail/without --host, the directory is missing",
      files: noPrincipals,
      expected: undefined,
      want: "fail /etc/ssh/auth_principals does not exist: no login can use a certificate here",
    },
    {
      name: "warn/without --host, the directory exists but its files are not checked",
      files: good,
      expected: undefined,
      want: "warn /etc/ssh/auth_principals exists; its per-user files were not checked (give --host NAME)",
    },
  ])("$name", ({ files, expected, want }) => {
    expect(principals(files, expected)).toContain(want);
  });

  test("a path that depends on the account (%h, %U, relative) is not guessed at", () => {
    const lines = [base[0]!, "AuthorizedPrincipalsFile %h/.ssh/principals", ...base.slice(2)];
    expect(principals(good, web1, lines)).toContain(
      "warn %h/.ssh/principals depends on the account (home directory or uid); its files were not checked",
    );
  });

  test("a literal path that is missing is named as well", () => {
    const lines = [base[0]!, "AuthorizedPrincipalsFile /etc/ssh/principals", ...base.slice(2)];
    expect(principals(good, undefined, lines)).toContain("warn /etc/ssh/principals does not exist");
  });
});
