import { readFileSync } from "node:fs";
import { afterAll, expect, test } from "vitest";
import { parseCertificate } from "../../cli/certificate.js";
import { auditRecords } from "../helpers/audit-files.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { e2eConfig, startWorld } from "../helpers/scenario.js";

let daemon: TestDaemon | undefined;
afterAll(() => daemon?.stop());

test("SIGKILL during 200 concurrent issuances: every certificate a client received has its durable issuance record", async () => {
  // Plain HTTP on loopback, so the test drives 200 fetch() calls directly.
  const w = await startWorld(
    e2eConfig({
      extra: {
        listen: { address: "127.0.0.1", port: 0, tls: { enabled: false } },
        limits: { requestsPerMinute: 10_000 },
      },
    }),
  );
  daemon = w.daemon;
  const token = w.alice.env.SSHCA_TOKEN!;
  const publicKey = readFileSync(`${w.alice.key}.pub`, "utf8").trim();
  const received: string[] = [];
  let failed = 0;
  let killed = false;
  let inFlight = 0;
  let inFlightAtKill = 0;

  // 200 issuances, started in overlapping waves so some are always mid-flight when the kill lands.
  const one = async (i: number) => {
    await new Promise((r) => setTimeout(r, Math.floor(i / 25) * 20));
    if (killed) {
      failed++;
      return;
    }
    inFlight++;
    try {
      const res = await fetch(`${daemon!.url}/v1/requests`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ role: "selfserve", hosts: ["web-1"], reason: `load ${i}`, publicKey }),
      });
      const body = (await res.json()) as { certificate?: string };
      if (body.certificate) received.push(body.certificate);
      else failed++;
    } catch {
      failed++; // the connection died with the daemon
    }
    inFlight--;
    if (!killed && received.length >= 25) {
      killed = true;
      inFlightAtKill = inFlight;
      await daemon!.kill();
    }
  };
  await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
  expect(killed).toBe(true);
  expect(received.length).toBeGreaterThanOrEqual(25);
  expect(inFlightAtKill).toBeGreaterThan(0); // the kill really cut issuances off mid-flight
  expect(received.length + failed).toBe(200);

  // The state loads and the daemon starts on the same data directory.
  daemon = await daemon.restart();
  const verify = await daemon.sshcad(["audit", "verify"]);
  expect(verify.code, verify.stderr).toBe(0);

  const issued = new Map(
    auditRecords(daemon.dataDir)
      .filter((r) => r.type === "certificate.issued")
      .map((r) => [String(r.fields.serial), r]),
  );
  for (const cert of received) {
    const parsed = parseCertificate(cert);
    const record = issued.get(parsed.serial.toString());
    expect(record, `serial ${parsed.serial} has no issuance record`).toBeDefined();
    expect(record!.fields.keyId).toBe(parsed.keyId);
    expect(record!.fields.subjectKeyFingerprint).toBe(parsed.subjectFingerprint);
  }
});
