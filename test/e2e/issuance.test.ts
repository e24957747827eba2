import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { json } from "../helpers/people.js";
import { run, start } from "../helpers/procs.js";
import { LOGIN, startWorld, targetHost, type World, waitingId } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

interface RequestJson {
  id: string;
  state: string;
  certificate?: string;
  serial?: string;
  validAfter?: string;
  validBefore?: string;
  approvals: { approver: string }[];
  approvalsRequired: number;
  digest: string;
}

let w: World;
let web1: TestSshd;
let web2: TestSshd;

beforeAll(async () => {
  w = await startWorld();
  web1 = await targetHost(w.bob, "web-1");
  web2 = await targetHost(w.bob, "web-2");
});
afterAll(async () => {
  await Promise.all([web1?.stop(), web2?.stop()]);
  await w?.daemon.stop();
});

describe("alice asks, bob approves, plain ssh works", () => {
  let id: string;

  test("login waits for approval and installs the certificate the approver released", async () => {
    const login = w.alice.spawn([
      "login",
      "--role",
      "debug",
      "--host",
      "web-1",
      "--reason",
      "INC-1 disk full",
      "--no-agent",
      "--json",
    ]);
    id = await waitingId(login);

    const list = json<{ requests: RequestJson[] }>(await w.bob.sshca(["request", "list", "--json"]));
    expect(list.requests.map((r) => [r.id, r.state])).toContainEqual([id, "pending"]);

    const approved = await w.bob.sshca(["approve", id, "--comment", "looks right"]);
    expect(approved.code, approved.stderr).toBe(0);

    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const issued = JSON.parse(done.stdout) as RequestJson & { certificatePath: string };
    expect(issued.state).toBe("issued");
    expect(issued.certificatePath).toBe(`${w.alice.key}-cert.pub`);
    expect(readFileSync(issued.certificatePath, "utf8").trim()).toBe(issued.certificate);
    // The approver sees the issuance but never alice's certificate.
    expect(json<RequestJson>(await w.bob.sshca(["request", "show", id, "--json"])).certificate).toBeUndefined();
  });

  test("ssh-keygen -L shows the role's principals, validity, extensions and a joinable key id", async () => {
    const r = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    expect(r.code).toBe(0);
    const req = json<RequestJson>(await w.alice.sshca(["request", "show", id, "--json"]));
    expect(r.stdout).toMatch(/Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
    expect(r.stdout).toContain(`Key ID: "req=${id};user=alice;role=debug;approvers=bob"`);
    expect(r.stdout).toContain(`Serial: ${req.serial}`);
    expect(r.stdout).toMatch(new RegExp(`Principals: \\n\\s+${LOGIN}@web-1\\n\\s+Critical Options: \\(none\\)`));
    expect(r.stdout).toMatch(/Extensions: \n\s+permit-pty\n/);
    expect(r.stdout).not.toMatch(/permit-(agent|port|X11)-forwarding|permit-user-rc/);
    const span = (Date.parse(req.validBefore!) - Date.parse(req.validAfter!)) / 1000;
    expect(span).toBeGreaterThan(15 * 60);
    expect(span).toBeLessThanOrEqual(15 * 60 + 120); // TTL plus at most 2 minutes of backdating
    expect(BigInt(req.serial!)).toBeGreaterThan(0n);
  });

  test("interactive ssh to web-1 gets a PTY, and sshd logs the key id", async () => {
    const r = await ssh({
      port: web1.port,
      user: LOGIN,
      key: w.alice.key,
      tty: true,
      command: "tty; echo logged-in-as-$(id -un)",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain(`logged-in-as-${LOGIN}`);
    expect(web1.log()).toContain(`ID req=${id};user=alice;role=debug;approvers=bob`);
  });

  test("the same certificate is refused by web-2, a host outside the request", async () => {
    const r = await ssh({ port: web2.port, user: LOGIN, key: w.alice.key, command: "true" });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});

describe("separation of duties", () => {
  test("self-approval, a non-approver and a repeated approval are refused; two approvals issue", async () => {
    const asked = json<RequestJson>(
      await w.alice.sshca([
        "login",
        "--role",
        "critical",
        "--host",
        "db-1",
        "--reason",
        "CHG-7 vacuum",
        "--no-wait",
        "--json",
      ]),
    );
    expect(asked.state).toBe("pending");
    expect(asked.approvalsRequired).toBe(2);

    const self = await w.alice.sshca(["approve", asked.id]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/^sshca: you cannot approve your own request\n$/m);

    const peer = await w.carol.sshca(["approve", asked.id]);
    expect(peer.code).toBe(1);
    expect(peer.stderr).toMatch(/(no request|not an approver)/);

    expect((await w.bob.sshca(["approve", asked.id])).code).toBe(0);
    const again = await w.bob.sshca(["approve", asked.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("bob already approved");

    const half = json<RequestJson>(await w.alice.sshca(["request", "show", asked.id, "--json"]));
    expect(half.state).toBe("pending");
    expect(half.certificate).toBeUndefined();
    expect(half.approvals.map((a) => a.approver)).toEqual(["bob"]);

    expect((await w.dave.sshca(["approve", asked.id])).code).toBe(0);
    const picked = await w.alice.sshca(["request", "wait", asked.id, "--no-agent", "--json"]);
    expect(picked.code, picked.stderr).toBe(0);
    const issued = JSON.parse(picked.stdout) as RequestJson;
    expect(issued.state).toBe("issued");
    expect(issued.approvals.map((a) => a.approver)).toEqual(["bob", "dave"]);
    const keyId = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
    expect(keyId.stdout).toContain("approvers=bob+dave");

    const late = await w.carol.sshca(["approve", issued.id]);
    expect(late.code).toBe(1);
  });

  test("a denial ends the request; the waiting CLI says why and exits 3", async () => {
    const login = w.alice.spawn(["login", "--role", "debug", "--host", "web-2", "--reason", "INC-2", "--no-agent"]);
    const id = await waitingId(login);
    const denied = await w.bob.sshca(["deny", id, "--reason", "use the runbook"]);
    expect(denied.code, denied.stderr).toBe(0);
    const done = await login.done;
    expect(done.code).toBe(3);
    expect(done.stderr).toContain(`request ${id} was denied by bob: use the runbook`);
    const late = await w.dave.sshca(["approve", id]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain("was denied by bob");
  });

  test("a cancelled request cannot be approved", async () => {
    // web-2: alice's live certificate for web-1 would be reused rather than asked for again.
    const id = (
      await w.alice.sshca(["login", "--role", "debug", "--host", "web-2", "--reason", "x", "--no-wait"])
    ).stdout.trim();
    expect((await w.alice.sshca(["request", "cancel", id])).code).toBe(0);
    const late = await w.bob.sshca(["approve", id]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain("was cancelled by alice");
  });
});

describe("expiry", () => {
  test("a short-TTL certificate logs in, then is refused once it expires", async () => {
    const login = w.alice.spawn([
      "login",
      "--role",
      "short",
      "--host",
      "web-1",
      "--ttl",
      "3s",
      "--reason",
      "quick look",
      "--no-agent",
      "--json",
    ]);
    const id = await waitingId(login);
    expect((await w.bob.sshca(["approve", id])).code).toBe(0);
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const cert = JSON.parse(done.stdout) as RequestJson;

    const before = await ssh({
      port: web1.port,
      user: LOGIN,
      key: w.alice.key,
      command: "echo inside",
    });
    expect(before.code, before.stderr).toBe(0);

    const wait = Date.parse(cert.validBefore!) - Date.now() + 1500;
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    const after = await ssh({
      port: web1.port,
      user: LOGIN,
      key: w.alice.key,
      command: "echo inside",
    });
    expect(after.code).toBe(255);
    expect(web1.log()).toMatch(/expired|Certificate invalid/i);
  });
});

describe("ssh-agent and auto-approval", () => {
  test("login adds key and certificate to a running ssh-agent for the certificate's lifetime", async () => {
    const sock = join(tempDir("agent"), "agent.sock");
    const agent = start(tool("ssh-agent"), ["-D", "-a", sock]);
    await agent.waitFor(/SSH_AUTH_SOCK=/);
    try {
      const env = { ...w.alice.env, SSH_AUTH_SOCK: sock };
      const login = start(
        process.execPath,
        [
          join(import.meta.dirname, "..", "..", "dist", "cli", "main.js"),
          "login",
          "--role",
          "short",
          "--host",
          "web-1",
          "--ttl",
          "4s",
          "--reason",
          "agent check",
        ],
        { env },
      );
      const id = await waitingId(login);
      expect((await w.bob.sshca(["approve", id])).code).toBe(0);
      const done = await login.done;
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toContain("added to ssh-agent");
      const listed = await run(tool("ssh-add"), ["-l"], { env });
      expect(listed.stdout).toMatch(/ED25519-CERT/);
      expect(listed.stdout).toMatch(/ED25519\)/);
      // Using only the agent (no key file), plain ssh logs in.
      const viaAgent = await ssh({ port: web1.port, user: LOGIN, agent: sock, command: "echo via-agent" });
      expect(viaAgent.stdout, viaAgent.stderr).toContain("via-agent");
      // The agent forgets both when the certificate expires.
      await new Promise((r) => setTimeout(r, 6000));
      const after = await run(tool("ssh-add"), ["-l"], { env });
      expect(after.stdout + after.stderr).toMatch(/no identities/);
    } finally {
      agent.proc.kill("SIGTERM");
    }
  });

  test("an auto-approve role issues at once, and the audit log says it was auto-approved", async () => {
    const r = await w.alice.sshca([
      "login",
      "--role",
      "selfserve",
      "--host",
      "web-1",
      "--reason",
      "read logs",
      "--no-agent",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const issued = JSON.parse(r.stdout) as RequestJson & {
      approvals: { approver: string; auto?: boolean }[];
    };
    expect(issued.state).toBe("issued");
    expect(issued.approvals).toEqual([expect.objectContaining({ approver: "auto-approve", auto: true })]);
    const records = auditRecords(w.daemon.dataDir);
    expect(records.find((x) => x.type === "config.loaded")?.fields.autoApproveRoles).toEqual(["selfserve"]);
    const ofRequest = records.filter((x) => x.fields.request === issued.id && !x.type.startsWith("scan."));
    expect(ofRequest.map((x) => x.type)).toEqual([
      "request.created",
      "request.auto_approved",
      "certificate.issued",
      "certificate.fetched",
    ]);
  });
});
