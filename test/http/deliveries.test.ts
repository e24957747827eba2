import { generateKeyPairSync, randomBytes } from "node:crypto";
import sshpk from "sshpk";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createToken } from "../../src/admin/users.js";
import { auditRecords } from "../helpers/audit-files.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { e2eConfig } from "../helpers/scenario.js";

let api: InProc;
const t: Record<string, string> = {};
const publicKey = () =>
  sshpk
    .parseKey(generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }), "pem")
    .toString("ssh");
const fetched = (id: string) =>
  auditRecords(api.daemon.core.paths.dataDir).filter(
    (r) => r.type === "certificate.fetched" && r.fields.request === id,
  );

beforeAll(async () => {
  const extra = { limits: { requestsPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }));
  t.alice = await api.token("alice", ["dev"]);
  t.bob = await api.token("bob", ["sre"]);
});
afterAll(() => api?.daemon.stop());

test("50 GETs of an issued request add at most one certificate.fetched record; another token adds one more", async () => {
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "debug", hosts: ["web-1"], reason: "fetch me", publicKey: publicKey() },
  });
  const issued = await api.call("POST", `/v1/requests/${created.body.id}/approve`, {
    token: t.bob!,
    body: { digest: created.body.digest },
  });
  expect(issued.body.state).toBe("issued");
  const id = created.body.id as string;
  expect(fetched(id)).toHaveLength(0); // the approver's answer carries no certificate

  const gets = await Promise.all(
    Array.from({ length: 50 }, () => api.call("GET", `/v1/requests/${id}`, { token: t.alice! })),
  );
  expect(gets.every((g) => g.status === 200 && g.body.certificate.startsWith("ssh-ed25519-cert-v01"))).toBe(true);
  expect(fetched(id)).toHaveLength(1);
  expect(fetched(id)[0]!.fields.serial).toBe(issued.body.serial);

  // alice on another machine (another token) is another delivery.
  const { core } = api.daemon;
  const second = await createToken(
    {
      config: () => core.config,
      storage: core.storage,
      now: () => new Date(),
      random: randomBytes,
      access: api.daemon.access,
    },
    "alice",
    "test",
  );
  for (let i = 0; i < 5; i++) {
    expect((await api.call("GET", `/v1/requests/${id}`, { token: second.token })).status).toBe(200);
  }
  expect(fetched(id)).toHaveLength(2);
  // The approver sees the request, never the certificate: no delivery.
  expect((await api.call("GET", `/v1/requests/${id}`, { token: t.bob! })).body.certificate).toBeUndefined();
  expect(fetched(id)).toHaveLength(2);
});

test("an auto-approved request's delivery is audited with its issuance, not again on the next GET", async () => {
  const created = await api.call("POST", "/v1/requests", {
    token: t.alice!,
    body: { role: "selfserve", hosts: ["web-1"], reason: "auto", publicKey: publicKey() },
  });
  expect(created.status).toBe(201);
  expect(created.body.certificate).toBeDefined();
  const id = created.body.id as string;
  expect(fetched(id)).toHaveLength(1);
  for (let i = 0; i < 10; i++) await api.call("GET", `/v1/requests/${id}`, { token: t.alice! });
  expect(fetched(id)).toHaveLength(1);
});
