import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords, liveState } from "../helpers/audit-files.js";
import { SSHCAD, type TestDaemon } from "../helpers/daemon.js";
import { json } from "../helpers/people.js";
import { start } from "../helpers/procs.js";
import { e2eConfig, startWorld } from "../helpers/scenario.js";

let daemon: TestDaemon;
let auditDir: string;

/**
 * `sshcad serve` on the data directory: resolves with its exit when it refuses to start, and
 * fails the test (after stopping it) when it starts listening instead.
 */
async function serveOutcome(d: TestDaemon): Promise<{ code: number | null; stderr: string }> {
  const p = start(process.execPath, [SSHCAD, "--config", d.configPath, "--data-dir", d.dataDir, "serve"]);
  const started = p.waitFor(/sshcad listening on/, 20_000).then(
    () => true,
    () => false,
  );
  if (await Promise.race([started, p.done.then(() => false)])) {
    p.proc.kill("SIGTERM");
    await p.done;
    throw new Error("sshcad serve started on a truncated audit log");
  }
  const r = await p.done;
  return { code: r.code, stderr: r.stderr };
}

/** Keeps only the records up to `seq` (a cut at a record boundary, as `head -n` would make). */
function cutAfter(seq: number): void {
  for (const name of readdirSync(auditDir).filter((f) => f.endsWith(".jsonl"))) {
    const path = join(auditDir, name);
    const kept = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l !== "" && (JSON.parse(l) as { seq: number }).seq <= seq);
    writeFileSync(path, kept.map((l) => `${l}\n`).join(""));
  }
}

beforeAll(async () => {
  // No scans: every record in the tail below is one that changes no live state.
  const w = await startWorld(e2eConfig({ extra: { scanning: { enabled: false } } }));
  const asked = json<{ id: string }>(
    await w.alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-11", "--no-wait", "--json"]),
  );
  expect((await w.bob.sshca(["approve", asked.id])).code).toBe(0);
  // The requester fetches the certificate: certificate.fetched, which no state change follows.
  expect((await w.alice.sshca(["request", "wait", asked.id, "--no-agent"])).code).toBe(0);
  await w.daemon.stop();
  // A restart adds daemon.started and config.loaded, which change no state either.
  daemon = await w.daemon.restart();
  await daemon.stop();
  auditDir = join(daemon.dataDir, "audit");
});
afterAll(() => daemon?.stop());

describe("an audit log cut at a record boundary", () => {
  test("is caught by offline verify and refused by serve, even when the cut records changed no state", async () => {
    const stateSeq = (await liveState(daemon.dataDir)).auditSeq as number;
    const all = auditRecords(daemon.dataDir);
    const head = all.at(-1)!.seq;
    const tail = all.filter((r) => r.seq > stateSeq).map((r) => r.type);
    expect(tail).toEqual(expect.arrayContaining(["certificate.fetched", "daemon.started", "config.loaded"]));

    cutAfter(stateSeq);
    expect(auditRecords(daemon.dataDir).at(-1)!.seq).toBe(stateSeq);

    const verify = await daemon.sshcad(["audit", "verify"]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(
      `the log ends at seq ${stateSeq} but seq ${head} is known to exist (audit head file): records ${stateSeq + 1}..${head} were truncated`,
    );

    const serve = await serveOutcome(daemon);
    expect(serve.code).toBe(78);
    expect(serve.stderr).toMatch(
      new RegExp(
        `the audit log ends at record ${stateSeq} but .* record ${head} .* truncated .*run: sshcad audit verify`,
      ),
    );
  });

  test("a data directory without a head file (from before sshcad kept one) still starts and gets one", async () => {
    // Put the log back to a consistent state first: the head file now matches the cut log.
    rmSync(join(auditDir, "audit.head"));
    const unanchored = await daemon.sshcad(["audit", "verify"]);
    expect(unanchored.code).toBe(1);
    expect(unanchored.stderr).toMatch(/audit\.head is missing/);

    daemon = await daemon.restart();
    await daemon.stop();
    expect(readdirSync(auditDir)).toContain("audit.head");
    const created = auditRecords(daemon.dataDir).find((r) => r.type === "audit.head_created");
    expect(created?.fields).toMatchObject({ seq: expect.any(Number) });
    const verified = await daemon.sshcad(["audit", "verify"]);
    expect(verified.code, verified.stderr).toBe(0);
  });
});
