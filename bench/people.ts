import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { benchConfig, median, percentile, run, SSHCA, startDaemon, tempDir } from "./lib.js";

/** Wall time of one process run, in ms. */
async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await run(process.execPath, args, env);
  if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.err}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function httpsPost(url: string, path: string, ca: Buffer, token: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(
      {
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": payload.length,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * What people wait for, over pinned HTTPS as they use it: `sshca login` with auto-approve from
 * start to installed certificate, and for a waiting CLI, approval to installed certificate.
 * Baselines in the same run: starting node itself, and `sshca --help`.
 */
export async function peopleBench(runs = 15) {
  const daemon = await startDaemon(benchConfig({ listen: { address: "127.0.0.1", port: 0 } }));
  const home = tempDir("home");
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, ".config") };
  const aliceToken = await daemon.sshcad(["user", "add", "alice", "--group", "dev"]);
  const bobToken = await daemon.sshcad(["user", "add", "bob", "--group", "sre"]);
  const { execFileSync } = await import("node:child_process");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(home, "id")]);
  const ca = readFileSync(join(daemon.dataDir, "tls", "ca.crt"));
  const fp = execFileSync(process.execPath, [
    "-e",
    `const c=require("node:crypto");const x=new c.X509Certificate(require("fs").readFileSync(${JSON.stringify(join(daemon.dataDir, "tls", "ca.crt"))}));process.stdout.write("SHA256:"+c.createHash("sha256").update(x.raw).digest("base64").replace(/=+$/,""))`,
  ]).toString();
  await timed([SSHCA, "bootstrap", "--url", daemon.url, "--fingerprint", fp], env);
  const alice = { ...env, SSHCA_TOKEN: aliceToken };
  const loginArgs = (role: string) => [
    SSHCA,
    "login",
    "--role",
    role,
    "--host",
    "web-1",
    "--reason",
    "bench",
    "-i",
    join(home, "id"),
    "--no-agent",
    // Each login asks anew: the same key would otherwise get its live certificate back.
    "--new",
  ];

  const nodeStart: number[] = [];
  const help: number[] = [];
  const login: number[] = [];
  for (let i = 0; i < runs; i++) {
    nodeStart.push(await timed(["-e", "0"], env));
    help.push(await timed([SSHCA, "--help"], env));
    login.push(await timed(loginArgs("auto"), alice));
  }

  // Approval to certificate: alice waits; bob approves; the clock runs until alice's CLI is done.
  const approval: number[] = [];
  for (let i = 0; i < Math.max(5, Math.floor(runs / 2)); i++) {
    const child = spawn(process.execPath, loginArgs("approved"), {
      env: alice,
      stdio: ["ignore", "ignore", "pipe"],
    });
    const id = await new Promise<string>((res) => {
      let err = "";
      child.stderr!.on("data", (d: Buffer) => {
        err += d;
        const m = /Waiting for approval of (rq_[a-z2-7]{16})/.exec(err);
        if (m) res(m[1]!);
      });
    });
    const digest = await new Promise<string>((res, rej) => {
      const u = new URL(`/v1/requests/${id}`, daemon.url);
      request(
        { hostname: u.hostname, port: u.port, path: u.pathname, ca, headers: { authorization: `Bearer ${bobToken}` } },
        (r) => {
          let b = "";
          r.on("data", (d: Buffer) => (b += d));
          r.on("end", () => res((JSON.parse(b) as { digest: string }).digest));
        },
      )
        .on("error", rej)
        .end();
    });
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const status = await httpsPost(daemon.url, `/v1/requests/${id}/approve`, ca, bobToken, { digest });
    const t = process.hrtime.bigint();
    if (status !== 200) throw new Error(`approve answered ${status}`);
    await exited;
    approval.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await daemon.stop();
  const summary = (xs: number[]) => ({ median: median(xs), p90: percentile(xs, 90) });
  return {
    nodeStart: summary(nodeStart),
    sshcaHelp: summary(help),
    loginAutoApprove: summary(login),
    approvalToCertificate: summary(approval),
  };
}
