import { afterAll, beforeAll, expect, test } from "vitest";
import { json } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN, startWorld, targetHost, type World } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tool } from "../helpers/tools.js";

/**
 * A scheduled window (sshca login --start): approved and delivered ahead of time, its
 * certificate is valid only from the start, and a real sshd refuses it until then.
 */

let w: World;
let web1: TestSshd;

beforeAll(async () => {
  w = await startWorld(e2eConfig());
  web1 = await targetHost(w.bob, "web-1");
});
afterAll(async () => {
  await web1?.stop();
  await w?.daemon.stop();
});

test("approved before its start, the certificate is refused by sshd until the start, then works", async () => {
  // Whole seconds: the certificate's validity is in seconds (PROTOCOL.certkeys).
  const start = new Date(Math.ceil(Date.now() / 1000) * 1000 + 15_000);
  const asked = json<any>(
    await w.alice.sshca([
      "login",
      "--role",
      "debug",
      "--host",
      "web-1",
      "--reason",
      "CHG-9 maintenance window",
      "--ttl",
      "5m",
      "--start",
      start.toISOString(),
      "--no-wait",
      "--json",
    ]),
  );
  expect(asked).toMatchObject({ state: "pending", start: start.toISOString(), ttlSeconds: 300 });
  const shown = await w.bob.sshca(["request", "show", asked.id]);
  expect(shown.stdout).toContain(`Access      5m from ${start.toISOString()}`);
  expect(shown.stdout).toContain(`Waits until ${asked.expiresAt} for approvals (then it expires)`);

  const approved = await w.bob.sshca(["approve", asked.id]);
  expect(approved.code, approved.stderr).toBe(0);
  const picked = await w.alice.sshca(["request", "wait", asked.id, "--no-agent"]);
  expect(picked.code, picked.stderr).toBe(0);
  expect(picked.stdout).toContain(
    `issued for a scheduled window: serial ${json<any>(await w.alice.sshca(["request", "show", asked.id, "--json"])).serial}, valid from ${start.toISOString()} until ${new Date(start.getTime() + 300_000).toISOString()} (not before)`,
  );

  // ssh-keygen -L: valid from the start exactly (not backdated), for the access asked for.
  const cert = await run(tool("ssh-keygen"), ["-L", "-f", `${w.alice.key}-cert.pub`]);
  const local = (d: Date) => {
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  expect(cert.stdout).toContain(`Valid: from ${local(start)} to ${local(new Date(start.getTime() + 300_000))}`);

  expect(Date.now()).toBeLessThan(start.getTime() - 1000);
  const early = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
  expect(early.code).toBe(255);
  expect(early.stderr).toMatch(/Permission denied/);
  expect(web1.log()).toMatch(/not yet valid/);

  // The condition is the clock: once it passes the start (plus a second for sshd's clock read), it works.
  await new Promise((r) => setTimeout(r, start.getTime() + 1000 - Date.now()));
  const inside = await ssh({ port: web1.port, user: LOGIN, key: w.alice.key, command: "echo in" });
  expect(inside.code, inside.stderr).toBe(0);
  expect(inside.stdout.trim()).toBe("in");
});
