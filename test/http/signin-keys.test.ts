import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sshString } from "../../src/ca/ssh-wire.js";
import { httpCall } from "../helpers/client.js";
import { type InProc, startInProc } from "../helpers/inproc.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";
import { tool } from "../helpers/tools.js";

/**
 * Security-key sign-in keys (PROTOCOL.u2f) are read by the daemon itself, since sshpk cannot:
 * every malformed blob must be a clear 400 that changes nothing, on both ways a key is
 * registered (a user's POST /v1/keys, and the admin socket behind `sshcad user key add`).
 */
const ED = "sk-ssh-ed25519@openssh.com";
const EC = "sk-ecdsa-sha2-nistp256@openssh.com";
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const cat = (...parts: (Buffer | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? sshString(p) : p)));
const line = (type: string, blob: Buffer | string) =>
  `${type} ${typeof blob === "string" ? blob : blob.toString("base64")} test`;

const edRaw = () => {
  const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url");
};
const ecPoint = (curve: "P-256" | "P-384" = "P-256") => {
  const jwk = generateKeyPairSync("ec", { namedCurve: curve }).publicKey.export({ format: "jwk" });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
};
const edBlob = (key = edRaw(), app: Buffer | string = "ssh:") => cat(ED, sshString(key), sshString(app));
const ecBlob = (point = ecPoint(), curve = "nistp256") => cat(EC, curve, sshString(point), "ssh:");
const offCurve = () => {
  const q = ecPoint();
  q[64] = q[64]! ^ 1; // y no longer fits x
  return q;
};

let api: InProc;
let alice: string;

beforeAll(async () => {
  const extra = { limits: { failedAuthPerMinute: 1000 }, scanning: { enabled: false } };
  api = await startInProc(e2eConfig({ extra }));
  alice = await api.token("alice", ["dev"]);
});
afterAll(() => api?.daemon.stop());

const paths = {
  // Self-service registration starts with a challenge for the key, which parses it.
  "POST /v1/keys/challenge": (publicKey: string) =>
    api.call("POST", "/v1/keys/challenge", { token: alice, body: { publicKey } }),
  "admin socket (sshcad user key add)": (publicKey: string) =>
    httpCall({ socketPath: api.daemon.core.paths.adminSocket }, "POST", "/users/alice/keys", { body: { publicKey } }),
};

describe.each(Object.entries(paths))("malformed security keys via %s: 400, nothing changes", (_path, register) => {
  const cases: { name: string; key: () => string; message: RegExp }[] = [
    { name: "fail/only the type string", key: () => line(ED, cat(ED)), message: /truncated/ },
    { name: "fail/an empty blob", key: () => `${ED} =`, message: /malformed/ },
    { name: "fail/three bytes", key: () => line(ED, Buffer.from([0, 0, 0])), message: /truncated/ },
    { name: "fail/not base64", key: () => `${ED} !!!!`, message: /not base64/ },
    {
      name: "fail/a length beyond the blob",
      key: () => line(ED, Buffer.concat([u32(0xffffffff), Buffer.from(ED)])),
      message: /truncated/,
    },
    {
      name: "fail/a truncated key",
      key: () => line(ED, Buffer.concat([sshString(ED), u32(32), Buffer.alloc(10)])),
      message: /truncated/,
    },
    { name: "fail/no application", key: () => line(ED, cat(ED, sshString(edRaw()))), message: /truncated/ },
    { name: "fail/an empty application", key: () => line(ED, edBlob(edRaw(), "")), message: /application/ },
    {
      name: "fail/trailing bytes",
      key: () => line(ED, Buffer.concat([edBlob(), Buffer.from("x")])),
      message: /trailing/,
    },
    { name: "fail/an Ed25519 key of 31 bytes", key: () => line(ED, edBlob(edRaw().subarray(1))), message: /32 bytes/ },
    { name: "fail/a blob of the other type", key: () => line(ED, ecBlob()), message: /type does not match/ },
    {
      name: "fail/ECDSA without its curve",
      key: () => line(EC, cat(EC, sshString(ecPoint()), "ssh:")),
      message: /nistp256/,
    },
    {
      name: "fail/ECDSA on another curve",
      key: () => line(EC, ecBlob(ecPoint("P-384"), "nistp384")),
      message: /nistp256/,
    },
    {
      name: "fail/ECDSA with a compressed point",
      key: () => line(EC, ecBlob(ecPoint().subarray(0, 33))),
      message: /point/,
    },
    { name: "fail/ECDSA with a point off the curve", key: () => line(EC, ecBlob(offCurve())), message: /point/ },
  ];

  test.each(cases)("$name", async (c) => {
    const before = api.snapshot();
    const r = await register(c.key());
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("bad_request");
    expect(r.body.error.message).toMatch(/^publicKey is malformed/);
    expect(r.body.error.message).toMatch(c.message);
    expect(api.snapshot()).toEqual(before);
  });
});

describe("well-formed security keys are accepted, with the fingerprint ssh-keygen computes", () => {
  test.each([
    ["ok/sk-ssh-ed25519", () => line(ED, edBlob())],
    ["ok/sk-ecdsa-sha2-nistp256", () => line(EC, ecBlob())],
  ])("%s", async (_name, key) => {
    const text = key();
    const r = await paths["POST /v1/keys/challenge"](text);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const fingerprint = /^key=(SHA256:\S+)$/m.exec(r.body.message)![1]!;
    const file = join(tempDir("sk"), "key.pub");
    writeFileSync(file, `${text}\n`);
    const listed = await run(tool("ssh-keygen"), ["-l", "-E", "sha256", "-f", file]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(fingerprint);
    // The admin path registers it as it is.
    const admin = await paths["admin socket (sshcad user key add)"](text);
    expect(admin.status, JSON.stringify(admin.body)).toBe(201);
    expect(admin.body.fingerprint).toBe(fingerprint);
  });
});
