import { writeFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { embeddedConfigPath, loadConfigFile, parseConfig } from "../../src/config/load.js";
import { baseConfig } from "../helpers/config.js";
import { writeConfig } from "../helpers/daemon.js";

const problems = (patch: (c: any) => void): string[] => {
  const c: any = baseConfig();
  patch(c);
  try {
    parseConfig(c, "test.yaml");
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems;
  }
  return [];
};

describe("config", () => {
  test("the shipped example config loads as is, with defaults filled in one place", () => {
    const cfg = loadConfigFile(embeddedConfigPath());
    expect(cfg.listen).toEqual({ address: "127.0.0.1", port: 8443, tls: { enabled: true } });
    expect(cfg.ca).toMatchObject({ keyType: "ed25519", backdate: 60 });
    expect(cfg.roles.debug).toMatchObject({
      extensions: ["permit-pty"],
      pendingTtl: 3600,
      autoApprove: false,
      approvalsRequired: 1,
    });
  });

  test.each([
    {
      name: "unknown key is an error, named with its path",
      patch: (c: any) => (c.roles.debug.maxTTL = "1h"),
      want: 'roles.debug: Unrecognized key: "maxTTL"',
    },
    {
      name: "bad duration",
      patch: (c: any) => (c.roles.debug.maxTtl = "forever"),
      want: 'roles.debug.maxTtl: expected a duration such as "90s"',
    },
    {
      name: "unknown group in a role",
      patch: (c: any) => (c.roles.debug.approvers = ["ops"]),
      want: 'roles.debug.approvers.0: unknown group "ops"',
    },
    {
      name: "unknown host in a role",
      patch: (c: any) => c.roles.debug.hosts.push("web-9"),
      want: 'roles.debug.hosts.2: unknown host "web-9"',
    },
    {
      name: "defaultTtl over maxTtl",
      patch: (c: any) => (c.roles.debug.defaultTtl = "2h"),
      want: "roles.debug.defaultTtl: defaultTtl is longer than maxTtl",
    },
    {
      name: "no approvers without autoApprove",
      patch: (c: any) => (c.roles.debug.approvers = []),
      want: "roles.debug.approvers: a role without autoApprove",
    },
    {
      name: "comma in a login principal",
      patch: (c: any) => (c.roles.debug.principals = ["a,b"]),
      want: "roles.debug.principals.0: login names must match",
    },
    {
      name: "wildcard principal",
      patch: (c: any) => (c.roles.debug.principals = ["*"]),
      want: "roles.debug.principals.0",
    },
    {
      name: "leading dash principal",
      patch: (c: any) => (c.roles.debug.principals = ["-oProxyCommand"]),
      want: "roles.debug.principals.0",
    },
    {
      name: "space in principal",
      patch: (c: any) => (c.roles.debug.principals = ["a b"]),
      want: "roles.debug.principals.0",
    },
    {
      name: "unknown extension",
      patch: (c: any) => (c.roles.debug.extensions = ["permit-everything"]),
      want: "roles.debug.extensions.0",
    },
    {
      name: "bad source-address",
      patch: (c: any) => (c.roles.dba.criticalOptions.sourceAddress = ["10.0.0.0/99"]),
      want: "roles.dba.criticalOptions.sourceAddress.0",
    },
    {
      name: "option-looking address",
      patch: (c: any) => (c.hosts["web-1"].address = "-oN/tmp/x"),
      want: "hosts.web-1.address: expected one IP address or DNS host name",
    },
    {
      name: "address with an option",
      patch: (c: any) => (c.hosts["web-1"].address = "127.0.0.1 -V"),
      want: "hosts.web-1.address",
    },
    {
      name: "CIDR as address",
      patch: (c: any) => (c.hosts["web-1"].address = "10.0.0.0/8"),
      want: "hosts.web-1.address",
    },
    {
      name: "shell metacharacters in address",
      patch: (c: any) => (c.hosts["web-1"].address = "a;b"),
      want: "hosts.web-1.address",
    },
    {
      name: "bad port",
      patch: (c: any) => (c.hosts["web-1"].expectedPorts = [70000]),
      want: "hosts.web-1.expectedPorts.0",
    },
    {
      name: "host name with uppercase",
      patch: (c: any) => (c.hosts.WEB = { address: "10.0.0.9" }),
      want: "hosts.WEB",
    },
    {
      name: "backdate over 2 minutes",
      patch: (c: any) => (c.ca = { backdate: "5m" }),
      want: "ca.backdate: may be at most 2m",
    },
    {
      name: "unknown user group",
      patch: (c: any) => (c.users = { eve: { groups: ["root"] } }),
      want: 'users.eve.groups.0: unknown group "root"',
    },
    {
      name: "syslog over UDP (no order, no delivery)",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "udp://127.0.0.1:514" }]),
      want: "syslog.0.url: expected tcp://HOST:PORT or tls://HOST:PORT",
    },
    {
      name: "syslog caFile on plain TCP",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "tcp://127.0.0.1:514", caFile: "/ca.pem" }]),
      want: "syslog.0.url: caFile and certFile apply only to tls:// destinations",
    },
    {
      name: "syslog client certificate without its key",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "tls://127.0.0.1:6514", certFile: "/c.pem" }]),
      want: "syslog.0.certFile: give certFile and keyFile together",
    },
    {
      name: "two syslog destinations of one name (one cursor)",
      patch: (c: any) =>
        (c.syslog = [
          { name: "siem", url: "tcp://127.0.0.1:514" },
          { name: "siem", url: "tcp://127.0.0.1:515" },
        ]),
      want: 'syslog.1.name: duplicate syslog destination "siem"',
    },
    {
      name: "syslog SD-ID without an enterprise number",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "tcp://127.0.0.1:514", sdId: "sshca" }]),
      want: "syslog.0.sdId: an SD-ID is NAME@NUMBER",
    },
    {
      name: "syslog maxMessage under the 480 octets every receiver takes",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "tcp://127.0.0.1:514", maxMessage: 100 }]),
      want: "syslog.0.maxMessage",
    },
    {
      name: "syslog facility unknown",
      patch: (c: any) => (c.syslog = [{ name: "siem", url: "tcp://127.0.0.1:514", facility: "mail2" }]),
      want: "syslog.0.facility",
    },
  ])("fail/$name", ({ patch, want }) => {
    expect(problems(patch).join("\n")).toContain(want);
  });

  test("every problem is reported at once", () => {
    const found = problems((c) => {
      c.roles.debug.maxTtl = "x";
      c.hosts["web-1"].address = "a;b";
    });
    expect(found).toHaveLength(2);
  });

  test("YAML syntax errors and duplicate keys are refused with the file name", () => {
    expect(() => loadConfigFile(writeConfigText("roles: [\n"))).toThrow(/sshcad\.yaml(:\d+:\d+)?: YAML error/);
    expect(() => loadConfigFile(writeConfigText("groups: {}\ngroups: {}\n"))).toThrow(
      /YAML error: Map keys must be unique/,
    );
  });

  test("a YAML error shows the offending line with a caret under the column", () => {
    const text = "groups: {dev: {}}\nhosts: {}\nroles:\n  debug: {principals: [a], hosts: [b]\n  other: 1\n";
    let message = "";
    try {
      loadConfigFile(writeConfigText(text));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/sshcad\.yaml:\d+:\d+: YAML error: /);
    const line = Number(/sshcad\.yaml:(\d+):/.exec(message)![1]);
    expect(message).toContain(`${line} | ${text.split("\n")[line - 1]}`);
    expect(message).toMatch(/\n\s+\| +\^$/);
  });

  test("a bad value names its key once", () => {
    const found = problems((c) => {
      (c as { audit?: object }).audit = { segmentSize: "tiny", headLogInterval: "soon" };
    });
    expect(found).toEqual([
      'audit.segmentSize: expected a size of at least 4KB, such as "64MB"',
      'audit.headLogInterval: expected a duration such as "90s", "15m", "1h" or "7d"',
    ]);
  });
});

function writeConfigText(text: string): string {
  const path = writeConfig({});
  writeFileSync(path, text);
  return path;
}
