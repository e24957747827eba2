// Developer tool: run the issuance load against a daemon started with --cpu-prof.
//   node dist/bench/profile.js [out-dir]        (LIVE=10000 first creates that many pending requests)
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { load } from "./http.js";
import { benchConfig, SSHCAD, tempDir } from "./lib.js";

const dir = tempDir("prof");
writeFileSync(join(dir, "c.yaml"), stringify(benchConfig({ requests: { keepFinished: "0s" } })));
const base = ["--config", join(dir, "c.yaml"), "--data-dir", join(dir, "d")];
const { execFileSync } = await import("node:child_process");
execFileSync(process.execPath, [SSHCAD, ...base, "init"]);
const token = execFileSync(process.execPath, [SSHCAD, ...base, "user", "add", "alice", "--group", "dev"])
  .toString()
  .trim();
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/id`]);
const body = JSON.stringify({
  role: "auto",
  hosts: ["web-1"],
  ttl: "30s",
  reason: "bench",
  reuse: false,
  publicKey: readFileSync(`${dir}/id.pub`, "utf8").trim(),
});
const out = process.argv[2] ?? "/tmp/prof";
const proc = spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${out}`, SSHCAD, ...base, "serve"], {
  stdio: ["ignore", "ignore", "pipe"],
  env: { ...process.env, SSHCAD_LOG_LEVEL: "warn" },
});
const url = await new Promise<string>((res) =>
  proc.stderr!.on("data", (d: Buffer) => {
    const m = /listening on (\S+)/.exec(String(d));
    if (m) res(m[1]!);
  }),
);
const pendingBody = body.replace('"role":"auto"', '"role":"approved"');
if (process.env.LIVE) {
  const seeded = await load(`${url}/v1/requests`, {
    connections: 32,
    seconds: 0,
    amount: Number(process.env.LIVE),
    headers: { authorization: `Bearer ${token}` },
    body: pendingBody,
  });
  console.log("seeded live requests", seeded);
}
await new Promise((r) => setTimeout(r, 2000));
console.log(
  await load(`${url}/v1/requests`, {
    connections: 16,
    seconds: 8,
    headers: { authorization: `Bearer ${token}` },
    body,
  }),
);
proc.kill("SIGTERM");
await new Promise((r) => proc.once("exit", r));
