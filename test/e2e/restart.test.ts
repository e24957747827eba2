import { afterAll, beforeAll, expect, test } from "vitest";
import type { TestDaemon } from "../helpers/daemon.js";
import { json, type Person } from "../helpers/people.js";
import { startWorld, type World } from "../helpers/scenario.js";

interface Req {
  id: string;
  state: string;
  serial?: string;
  approvals: { approver: string }[];
}

let w: World;
let daemon: TestDaemon;

const pointAt = (d: TestDaemon, ...people: Person[]) => {
  for (const p of people) p.env.SSHCA_URL = d.url;
};

beforeAll(async () => {
  w = await startWorld();
  daemon = w.daemon;
});
afterAll(() => daemon?.stop());

test("pending requests, partial approvals and issued certificates survive SIGTERM and SIGKILL", async () => {
  const { alice, bob, dave } = w;
  const ask = async (role: string, host: string) =>
    json<Req>(await alice.sshca(["login", "--role", role, "--host", host, "--reason", "INC-5", "--no-wait", "--json"]));
  const show = async (id: string) => json<Req>(await alice.sshca(["request", "show", id, "--json"]));

  const waiting = await ask("debug", "web-1");
  const half = await ask("critical", "db-1");
  expect((await bob.sshca(["approve", half.id])).code).toBe(0);
  const done = await ask("debug", "web-2");
  expect((await bob.sshca(["approve", done.id])).code).toBe(0);
  const issued = await show(done.id);
  expect(issued.state).toBe("issued");

  const stopped = await daemon.stop();
  expect(stopped.code).toBe(0);
  daemon = await daemon.restart();
  pointAt(daemon, alice, bob, dave);

  expect((await show(waiting.id)).state).toBe("pending");
  expect((await show(half.id)).approvals.map((a) => a.approver)).toEqual(["bob"]);
  expect(await show(done.id)).toMatchObject({ state: "issued", serial: issued.serial });

  // A crash (no clean shutdown) loses nothing either, and the stale lock does not block the start.
  await daemon.kill();
  daemon = await daemon.restart();
  pointAt(daemon, alice, bob, dave);

  expect((await dave.sshca(["approve", half.id])).code).toBe(0);
  expect((await bob.sshca(["approve", waiting.id])).code).toBe(0);
  for (const id of [half.id, waiting.id]) {
    const r = await alice.sshca(["request", "wait", id, "--no-agent", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).state).toBe("issued");
  }
});

test("a second daemon on the same data directory refuses to start", async () => {
  const second = await daemon.sshcad(["serve"]);
  expect(second.code).toBe(78); // EX_CONFIG, as documented: systemd does not restart it in a loop
  expect(second.stderr).toMatch(/another sshcad \(pid \d+\) is using this data directory/);
});
