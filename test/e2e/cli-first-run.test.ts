import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { ROOT } from "../helpers/daemon.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN, startWorld, waitingId, type World } from "../helpers/scenario.js";

/** What a first run of the CLI hits, and that each message says what is really going on. */

let w: World;
let eve: Person; // auditor
let root: Person; // admin

const show = async (p: Person, id: string) => json<any>(await p.sshca(["request", "show", id, "--json"]));
const ask = async (role: string, host: string) =>
  json<{ id: string; digest: string }>(
    await w.alice.sshca(["login", "--role", role, "--host", host, "--reason", "INC-1", "--no-wait", "--json"]),
  );

beforeAll(async () => {
  w = await startWorld(
    e2eConfig({
      roles: {
        // Auto-approved, but issued only after its pre-issue scan.
        gatedself: {
          principals: [LOGIN],
          hosts: ["web-1"],
          requesters: ["dev"],
          autoApprove: true,
          scanOnIssue: "gate",
          maxTtl: "5m",
        },
      },
    }),
  );
  eve = await makePerson("eve", w.daemon, await w.daemon.addUser("eve", ["auditors"]));
  root = await makePerson("root", w.daemon, await w.daemon.addUser("root", ["admins"]));
});
afterAll(() => w?.daemon.stop());

describe("the command line itself", () => {
  test("sshca --version prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = await w.alice.sshca(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  test.each([
    { args: ["whoami", "--url", "https://127.0.0.1:1"], option: "--url" },
    { args: ["whoami", "--url=https://127.0.0.1:1"], option: "--url" },
    {
      args: ["login", "--role", "debug", "--host", "web-1", "--reason", "x", "--token-file", "/dev/null"],
      option: "--token-file",
    },
  ])("a global option after the command ($option) is called one, exit 2", async ({ args, option }) => {
    const r = await w.alice.sshca(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `sshca: ${option} is a global option and goes before the command: sshca ${option} ... <command> ...\n`,
    );
  });
});

describe("Ctrl-C while waiting", () => {
  test.each([
    {
      name: "sshca login",
      start: () => w.alice.spawn(["login", "--role", "debug", "--host", "web-1", "--reason", "x"]),
    },
    {
      name: "sshca request wait",
      start: async () => {
        const { id } = await ask("debug", "web-2");
        return w.alice.spawn(["request", "wait", id, "--no-agent"]);
      },
    },
  ])("$name: says the request is still pending, how to resume and withdraw it, exits 130", async ({ start }) => {
    const run = await start();
    const id = await waitingId(run);
    run.proc.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr.trimEnd().split("\n").at(-1)).toBe(
      `sshca: interrupted; request ${id} is still pending: resume with: sshca request wait ${id}; withdraw it with: sshca request cancel ${id}`,
    );
    expect((await show(w.alice, id)).state).toBe("pending");
    expect((await w.alice.sshca(["request", "cancel", id])).code).toBe(0);
  });
});

describe("messages that say what really happened", () => {
  test("approve --digest WRONG: the digest does not match what the server holds, and nothing changed", async () => {
    const { id, digest } = await ask("debug", "web-1");
    const wrong = `sha256:${"0".repeat(64)}`;
    const r = await w.bob.sshca(["approve", id, "--digest", wrong]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sshca: --digest ${wrong} does not match the digest the server holds for ${id}; nothing changed (review the request again: sshca request show ${id})\n`,
    );
    const after = await show(w.bob, id);
    expect(after).toMatchObject({ state: "pending", approvals: [], digest });
    expect(
      auditRecords(w.daemon.dataDir)
        .filter((x) => x.fields.request === id)
        .map((x) => x.type),
    ).toEqual(["request.created"]);
    expect((await w.alice.sshca(["request", "cancel", id])).code).toBe(0);
  });

  test("an auto-approved login does not say it waits for issuance", async () => {
    const r = await w.alice.sshca(["login", "--role", "gatedself", "--host", "web-1", "--reason", "x", "--no-agent"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/waiting for issuance/i);
    expect(r.stderr).toContain("Auto-approved (role gatedself has autoApprove)");
  });

  test("sshca scan of a host not in the inventory says it is unknown; a non-approver learns nothing", async () => {
    for (const p of [w.bob, root]) {
      const r = await p.sshca(["scan", "no-such-host"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("sshca: unknown host no-such-host (not in the inventory)\n");
    }
    const known = await w.alice.sshca(["scan", "web-1"]);
    const unknown = await w.alice.sshca(["scan", "no-such-host"]);
    expect(known.code).toBe(1);
    expect(unknown.code).toBe(1);
    expect(known.stderr).toBe("sshca: only approvers of a role covering web-1, and admins, may scan it\n");
    expect(unknown.stderr).toBe(known.stderr.replace("web-1", "no-such-host"));
  });

  test("only auditors and admins are pointed to the audit trail for a request they cannot find", async () => {
    const id = "rq_aaaaaaaaaaaaaaaa";
    const alice = await w.alice.sshca(["request", "show", id]);
    expect(alice.code).toBe(1);
    expect(alice.stderr).toBe(`sshca: no request ${id} (finished requests leave the live state)\n`);
    for (const p of [eve, root]) {
      const r = await p.sshca(["request", "show", id]);
      expect(r.stderr).toBe(
        `sshca: no request ${id} (finished requests leave the live state; their history: sshca audit list --request ${id})\n`,
      );
    }
  });

  test("request list marks ended requests; request show says who revoked, relinquished, denied or cancelled, and why", async () => {
    const denied = await ask("debug", "web-1");
    expect((await w.bob.sshca(["deny", denied.id, "--reason", "not today"])).code).toBe(0);
    const cancelled = await ask("debug", "web-2");
    expect((await w.alice.sshca(["request", "cancel", cancelled.id])).code).toBe(0);
    const issue = async (role: string) => {
      const { id } = await ask(role, "web-1");
      expect((await w.bob.sshca(["approve", id])).code).toBe(0);
      return show(w.alice, id);
    };
    const revoked = await issue("debug");
    expect((await w.bob.sshca(["revoke", "--request", revoked.id, "--reason", "laptop lost"])).code).toBe(0);
    const relinquished = await issue("debug");
    expect((await w.alice.sshca(["request", "relinquish", relinquished.id])).code).toBe(0);
    const live = await issue("debug");
    const short = await issue("short");
    // Wait for the clock to pass the short certificate's validBefore (3 s).
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.validBefore) - Date.now()) + 200));

    const list = await w.alice.sshca(["request", "list", "--all"]);
    expect(list.code, list.stderr).toBe(0);
    const stateOf = (id: string) =>
      list.stdout
        .split("\n")
        .find((l) => l.startsWith(id))
        ?.split(/\s{2,}/)[1];
    expect(stateOf(denied.id)).toBe("denied (ended)");
    expect(stateOf(cancelled.id)).toBe("cancelled (ended)");
    expect(stateOf(revoked.id)).toBe("revoked (ended)");
    expect(stateOf(relinquished.id)).toBe("revoked (ended)");
    expect(stateOf(short.id)).toBe("issued (ended)");
    expect(stateOf(live.id)).toBe("issued");

    const lines = async (id: string) => (await w.alice.sshca(["request", "show", id])).stdout.split("\n");
    expect(await lines(revoked.id)).toContain("Revoked     by bob: laptop lost");
    expect(await lines(relinquished.id)).toContain("Relinquished by alice");
    expect(await lines(denied.id)).toContain("Denied      by bob: not today");
    expect(await lines(cancelled.id)).toContain("Cancelled   by alice");
  });

  test("sshca login says when it replaces an existing certificate file", async () => {
    const certPath = `${w.carol.key}-cert.pub`;
    const args = ["login", "--role", "selfserve", "--host", "web-1", "--reason", "x", "--no-agent"];
    const first = await w.carol.sshca(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^Written to  ${certPath}$`, "m"));
    const second = await w.carol.sshca(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`^Written to  ${certPath} \\(replaced the certificate that was there\\)$`, "m"),
    );
  });
});
