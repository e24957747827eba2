import { allow, type Decision, refuse } from "../domain/decision.js";
import type { CaKeyRecord, CaKeySet, CaKind, LiveCert } from "../domain/ca.js";

/**
 * The CA key set and its rotation, as pure functions over the set the live state keeps: which key
 * signs, which keys are published, which the KRL lists serials for and which it revokes outright,
 * and each phase change (stage, switch, retire, cancel). Every replica, every route and every
 * check (sshca doctor, the replica key check) asks these, so they all agree.
 *
 * Rotation without lockout (the order Teleport's phased rotation follows):
 *   stage   a next key is published beside the current one; hosts pick it up
 *   switch  the next key signs; the old one stays published while its certificates live
 *   retire  the old key leaves the published set and the KRL revokes it (refused while any
 *           certificate it signed is live, unless forced)
 */

/** A key about to join a set. */
export interface NewKey {
  fingerprint: string;
  publicKey: string;
  file?: string;
}

/** The set a CA starts with: one current key. */
export function initialSet(kind: CaKind, key: NewKey, now: Date): CaKeySet {
  const at = now.toISOString();
  return {
    kind,
    version: 1,
    updatedAt: at,
    keys: [{ ...key, status: "current", addedAt: at, signingSince: at }],
  };
}

/** The key that signs new certificates (there is exactly one). */
export function signingKey(set: CaKeySet): CaKeyRecord {
  const current = set.keys.find((k) => k.status === "current");
  if (!current) throw new Error(`the ${set.kind} CA key set has no current key`);
  return current;
}

export const nextKey = (set: CaKeySet): CaKeyRecord | undefined => set.keys.find((k) => k.status === "next");
export const previousKeys = (set: CaKeySet): CaKeyRecord[] => set.keys.filter((k) => k.status === "previous");
export const retiredKeys = (set: CaKeySet): CaKeyRecord[] => set.keys.filter((k) => k.status === "retired");

/**
 * The keys hosts (TrustedUserCAKeys) and users (@cert-authority) must trust now: the current
 * key, the staged next one, and previous keys whose certificates may still be live. Current first.
 */
export function publishedKeys(set: CaKeySet): CaKeyRecord[] {
  const next = nextKey(set);
  return [signingKey(set), ...(next ? [next] : []), ...previousKeys(set)];
}

/**
 * The keys a replica must hold the private half of: the signing key, and a staged next key (so
 * that a switch never leaves a replica unable to sign).
 */
export function keysNeedingPrivateHalf(set: CaKeySet): CaKeyRecord[] {
  const next = nextKey(set);
  return [signingKey(set), ...(next ? [next] : [])];
}

/** What the KRL says about each key: serials under published keys, retired keys revoked whole. */
export function krlKeys(set: CaKeySet): { listed: CaKeyRecord[]; revoked: CaKeyRecord[] } {
  return { listed: publishedKeys(set), revoked: retiredKeys(set) };
}

export type PhaseName = "steady" | "staged" | "switched" | "staged-with-previous";

/** Where the rotation stands, and what the operator does next. */
export function phaseOf(set: CaKeySet): { phase: PhaseName; nextStep: string } {
  const next = nextKey(set);
  const previous = previousKeys(set);
  const flag = set.kind === "host" ? " --host" : "";
  if (next && previous.length > 0)
    return {
      phase: "staged-with-previous",
      nextStep: `retire the previous key once its certificates expired (sshcad ca rotate retire${flag}), then switch`,
    };
  if (next)
    return {
      phase: "staged",
      nextStep: `once every ${set.kind === "host" ? "user's known_hosts" : "target host"} trusts the next key (sshca doctor), switch: sshcad ca rotate switch${flag}`,
    };
  if (previous.length > 0)
    return {
      phase: "switched",
      nextStep: `once the previous key's certificates expired, retire it: sshcad ca rotate retire${flag}`,
    };
  return { phase: "steady", nextStep: `to rotate, stage a next key: sshcad ca rotate stage${flag}` };
}

const bump = (set: CaKeySet, keys: CaKeyRecord[], now: Date): CaKeySet => ({
  ...set,
  version: set.version + 1,
  updatedAt: now.toISOString(),
  keys,
});

/** Stage a next key. One at a time; a key that was ever in the set never comes back. */
export function decideStage(set: CaKeySet, key: NewKey, now: Date): Decision<CaKeySet> {
  const staged = nextKey(set);
  if (staged)
    return refuse(
      "conflict",
      `a next ${set.kind} CA key is already staged (${staged.fingerprint}); switch to it or cancel it first`,
    );
  const known = set.keys.find((k) => k.fingerprint === key.fingerprint);
  if (known)
    return refuse("conflict", `key ${key.fingerprint} is already in the ${set.kind} CA key set (${known.status})`);
  return allow(bump(set, [...set.keys, { ...key, status: "next", addedAt: now.toISOString() }], now));
}

/** The next key signs from now on; the current one becomes previous (still published). */
export function decideSwitch(set: CaKeySet, now: Date): Decision<CaKeySet> {
  const next = nextKey(set);
  if (!next) return refuse("conflict", `no next ${set.kind} CA key is staged (sshcad ca rotate stage first)`);
  const at = now.toISOString();
  return allow(
    bump(
      set,
      set.keys.map((k) =>
        k.status === "current"
          ? { ...k, status: "previous", signingUntil: at }
          : k === next
            ? { ...k, status: "current", signingSince: at }
            : k,
      ),
      now,
    ),
  );
}

/** The serials of live certificates signed by `fingerprint`, sorted. */
export function dependents(fingerprint: string, live: readonly LiveCert[]): string[] {
  return live
    .filter((c) => c.caFingerprint === fingerprint)
    .map((c) => c.serial)
    .sort();
}

/**
 * Retire a previous key: refused while certificates it signed are live (naming their serials),
 * unless forced — then the KRL revokes the key and with it those certificates.
 */
export function decideRetire(
  set: CaKeySet,
  p: { live: readonly LiveCert[]; force: boolean; fingerprint?: string | undefined; now: Date },
): Decision<{ set: CaKeySet; retired: CaKeyRecord; dependents: string[] }> {
  const previous = previousKeys(set);
  let target: CaKeyRecord | undefined;
  if (p.fingerprint !== undefined) {
    target = set.keys.find((k) => k.fingerprint === p.fingerprint);
    if (!target) return refuse("not_found", `no key ${p.fingerprint} in the ${set.kind} CA key set`);
    if (target.status !== "previous")
      return refuse(
        "conflict",
        `key ${p.fingerprint} is ${target.status}; only a previous key (one that stopped signing) can be retired`,
      );
  } else if (previous.length === 1) target = previous[0];
  else if (previous.length === 0)
    return refuse("conflict", `no previous ${set.kind} CA key to retire (switch to a next key first)`);
  else
    return refuse(
      "conflict",
      `several previous ${set.kind} CA keys; name one with --key: ${previous.map((k) => k.fingerprint).join(", ")}`,
    );
  const serials = dependents(target!.fingerprint, p.live);
  if (serials.length > 0 && !p.force) {
    const shown = serials.slice(0, 20).join(", ");
    return refuse(
      "conflict",
      `${serials.length} live certificate(s) still depend on ${target!.fingerprint}: serial ${shown}${serials.length > 20 ? ", ..." : ""}; wait until they expire (or revoke them), or retire with --force, which revokes them all`,
    );
  }
  const at = p.now.toISOString();
  const retired: CaKeyRecord = {
    ...target!,
    status: "retired",
    retiredAt: at,
    ...(serials.length > 0 ? { forcedOver: serials } : {}),
  };
  return allow({
    set: bump(
      set,
      set.keys.map((k) => (k === target ? retired : k)),
      p.now,
    ),
    retired,
    dependents: serials,
  });
}

/**
 * Withdraw a staged key before it ever signed. It is retired, not forgotten: hosts may already
 * trust it, so the KRL revokes it until they no longer do.
 */
export function decideCancel(set: CaKeySet, now: Date): Decision<{ set: CaKeySet; cancelled: CaKeyRecord }> {
  const next = nextKey(set);
  if (!next) return refuse("conflict", `no next ${set.kind} CA key is staged`);
  const cancelled: CaKeyRecord = { ...next, status: "retired", retiredAt: now.toISOString() };
  return allow({
    set: bump(
      set,
      set.keys.map((k) => (k === next ? cancelled : k)),
      now,
    ),
    cancelled,
  });
}

/**
 * A key that appeared in place of the current one outside of a rotation (the key file was
 * replaced): it signs from now on and the one it replaced stays published as previous, so the
 * certificates that key signed can still be revoked. Refused for a key the set already knows.
 */
export function decideAdopt(set: CaKeySet, key: NewKey, now: Date): Decision<CaKeySet> {
  const known = set.keys.find((k) => k.fingerprint === key.fingerprint);
  if (known)
    return refuse(
      "conflict",
      `the ${set.kind} CA key file holds ${key.fingerprint}, which this CA knows as ${known.status}, not as its current key`,
    );
  const at = now.toISOString();
  return allow(
    bump(
      set,
      [
        ...set.keys.map((k) => (k.status === "current" ? { ...k, status: "previous" as const, signingUntil: at } : k)),
        { ...key, status: "current", addedAt: at, signingSince: at },
      ],
      now,
    ),
  );
}

/** Previous keys for CA keys that signed live certificates but are missing from the set (history). */
export function withHistoricKeys(set: CaKeySet, historic: readonly NewKey[], now: Date): CaKeySet {
  const missing = historic.filter(
    (h, i) =>
      !set.keys.some((k) => k.fingerprint === h.fingerprint) &&
      historic.findIndex((x) => x.fingerprint === h.fingerprint) === i,
  );
  if (missing.length === 0) return set;
  const at = now.toISOString();
  return bump(
    set,
    [
      ...set.keys,
      ...missing.map((m) => ({
        fingerprint: m.fingerprint,
        publicKey: m.publicKey,
        status: "previous" as const,
        addedAt: at,
      })),
    ],
    now,
  );
}
