import { generateKeyPairSync } from "node:crypto";
import sshpk from "sshpk";
import { describe, expect, test } from "vitest";
import { krlContent } from "../../src/ca/krl.js";
import {
  decideAdopt,
  decideCancel,
  decideRetire,
  decideStage,
  decideSwitch,
  initialSet,
  keysNeedingPrivateHalf,
  type NewKey,
  phaseOf,
  publishedKeys,
  signingKey,
} from "../../src/ca/keyset.js";
import { describeKey } from "../../src/ca/signer.js";
import type { CaKeySet } from "../../src/domain/ca.js";
import type { Decision } from "../../src/domain/decision.js";

const key = (file?: string): NewKey => {
  const pem = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" });
  const k = describeKey(sshpk.parseKey(pem, "pem"));
  return { fingerprint: k.fingerprint, publicKey: k.publicKeyLine, ...(file ? { file } : {}) };
};
const t0 = new Date("2026-01-01T00:00:00Z");
const ok = <T>(d: Decision<T>): T => {
  if (!d.ok) throw new Error(d.reason);
  return d.value;
};
const A = key("ca_key");
const B = key("ca_key-b");
const C = key("ca_key-c");
const steady = initialSet("user", A, t0);
const staged = ok(decideStage(steady, B, t0));
const switched = ok(decideSwitch(staged, t0));
const statuses = (s: CaKeySet) =>
  s.keys.map(
    (k) => `${k.fingerprint === A.fingerprint ? "A" : k.fingerprint === B.fingerprint ? "B" : "C"}:${k.status}`,
  );

describe("the key set through a rotation (pure)", () => {
  test("ok/steady → staged → switched → retired: what signs, what is published, what replicas must hold", () => {
    expect(phaseOf(steady).phase).toBe("steady");
    expect(publishedKeys(steady).map((k) => k.fingerprint)).toEqual([A.fingerprint]);

    expect(phaseOf(staged).phase).toBe("staged");
    expect(signingKey(staged).fingerprint).toBe(A.fingerprint);
    expect(publishedKeys(staged).map((k) => k.status)).toEqual(["current", "next"]);
    expect(keysNeedingPrivateHalf(staged).map((k) => k.fingerprint)).toEqual([A.fingerprint, B.fingerprint]);

    expect(phaseOf(switched).phase).toBe("switched");
    expect(signingKey(switched).fingerprint).toBe(B.fingerprint);
    expect(publishedKeys(switched).map((k) => k.status)).toEqual(["current", "previous"]);
    expect(keysNeedingPrivateHalf(switched).map((k) => k.fingerprint)).toEqual([B.fingerprint]);

    const retired = ok(decideRetire(switched, { live: [], force: false, now: t0 }));
    expect(statuses(retired.set)).toEqual(["A:retired", "B:current"]);
    expect(phaseOf(retired.set).phase).toBe("steady");
    expect(retired.set.version).toBe(4);
  });

  test.each([
    { name: "stage twice", d: () => decideStage(staged, C, t0), want: /already staged/ },
    {
      name: "stage a key the set knows",
      d: () => decideStage(switched, A, t0),
      want: /already in the user CA key set \(previous\)/,
    },
    { name: "switch with nothing staged", d: () => decideSwitch(steady, t0), want: /no next user CA key is staged/ },
    {
      name: "retire with no previous key",
      d: () => decideRetire(staged, { live: [], force: false, now: t0 }),
      want: /no previous/,
    },
    {
      name: "retire the signing key",
      d: () => decideRetire(switched, { live: [], force: false, fingerprint: B.fingerprint, now: t0 }),
      want: /is current; only a previous key/,
    },
    { name: "cancel with nothing staged", d: () => decideCancel(switched, t0), want: /no next user CA key is staged/ },
    { name: "adopt a key the set knows", d: () => decideAdopt(switched, A, t0), want: /knows as previous/ },
  ])("fail/$name", ({ d, want }) => {
    const r = d() as Decision<unknown>;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(want);
  });

  test("retirement waits for live certificates, names their serials (revoked ones do not count), or is forced", () => {
    const live = [
      { serial: "12", caFingerprint: A.fingerprint },
      { serial: "11", caFingerprint: A.fingerprint },
      { serial: "99", caFingerprint: B.fingerprint },
    ];
    const refused = decideRetire(switched, { live, force: false, now: t0 });
    expect(refused).toMatchObject({ ok: false, code: "conflict" });
    if (!refused.ok)
      expect(refused.reason).toContain(`2 live certificate(s) still depend on ${A.fingerprint}: serial 11, 12;`);
    const forced = ok(decideRetire(switched, { live, force: true, now: t0 }));
    expect(forced.dependents).toEqual(["11", "12"]);
    expect(forced.retired).toMatchObject({ status: "retired", forcedOver: ["11", "12"] });
  });

  test("several previous keys: retirement names which", () => {
    const twice = ok(decideSwitch(ok(decideStage(switched, C, t0)), t0));
    expect(statuses(twice)).toEqual(["A:previous", "B:previous", "C:current"]);
    const r = decideRetire(twice, { live: [], force: false, now: t0 });
    expect(r.ok).toBe(false);
    const one = ok(decideRetire(twice, { live: [], force: false, fingerprint: A.fingerprint, now: t0 }));
    expect(statuses(one.set)).toEqual(["A:retired", "B:previous", "C:current"]);
  });

  test("a cancelled next key is retired (hosts may trust it already), never forgotten", () => {
    const c = ok(decideCancel(staged, t0));
    expect(statuses(c.set)).toEqual(["A:current", "B:retired"]);
    expect(decideStage(c.set, B, t0).ok).toBe(false);
  });

  test("a key file replaced outside a rotation: the new key signs, the old one stays published as previous", () => {
    const adopted = ok(decideAdopt(steady, C, t0));
    expect(statuses(adopted)).toEqual(["A:previous", "C:current"]);
    expect(phaseOf(adopted).phase).toBe("switched");
  });
});

describe("what the KRL says over a rotation (pure)", () => {
  test("revoked serials under the key that signed each; retired keys revoked whole; unknown keys reported", () => {
    const retired = ok(
      decideRetire(ok(decideSwitch(ok(decideStage(switched, C, t0)), t0)), {
        live: [],
        force: false,
        fingerprint: A.fingerprint,
        now: t0,
      }),
    ).set;
    const blob = (k: NewKey) => sshpk.parseKey(k.publicKey, "ssh").toBuffer("rfc4253");
    const content = krlContent(retired, [
      { serial: "1", caFingerprint: A.fingerprint },
      { serial: "2", caFingerprint: B.fingerprint },
      { serial: "3", caFingerprint: C.fingerprint },
      { serial: "4", caFingerprint: "SHA256:unknown" },
    ]);
    expect(
      content.sections.map((s) => [
        s.caKeyBlob.equals(blob(C)) ? "C" : s.caKeyBlob.equals(blob(B)) ? "B" : "?",
        s.serials,
      ]),
    ).toEqual([
      ["C", [3n]],
      ["B", [2n]],
    ]);
    expect(content.revokedKeys.map((k) => k.equals(blob(A)))).toEqual([true]);
    expect(content.unknown).toEqual(["4"]);
  });
});
