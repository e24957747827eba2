import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSlot, HEAD_FILE } from "../src/audit/head-file.js";
import { type AuditType, chainRecord, GENESIS_HASH } from "../src/audit/record.js";
import { segmentName } from "../src/audit/segments.js";
import { emptyState } from "../src/store/state.js";

/** Seeded history starts here, one record per second. */
export const SEED_T0 = Date.UTC(2025, 0, 1);
export const SEED_USERS = 500;
export const SEED_HOSTS = 50;

/** Names the seeded record `i` carries (so a benchmark can look up what exists). */
export const seedNames = (i: number) => ({
  request: `rq_seed${String(Math.floor(i / 8)).padStart(12, "0")}`,
  user: `user${Math.floor(i / 8) % SEED_USERS}`,
  host: `web-${Math.floor(i / 8) % SEED_HOSTS}`,
  serial: String(1e15 + Math.floor(i / 8)),
  scan: `sc_${Math.floor(i / 8)
    .toString(32)
    .replace(/[0-9]/g, (d) => "abcdefghij"[Number(d)]!)
    .padStart(16, "a")}`,
});

/** One request's life, eight records: asked, approved, issued, fetched, scanned, revoked or failed sign-in. */
function seedEvent(i: number): { type: AuditType; actor: string; fields: Record<string, unknown> } {
  const n = seedNames(i);
  const req = { request: n.request, requester: n.user, role: "auto" };
  switch (i % 8) {
    case 0:
      return { type: "request.created", actor: n.user, fields: { ...req, hosts: [n.host], reason: "bench" } };
    case 1:
      return { type: "request.approved", actor: "approver", fields: { ...req, comment: "ok" } };
    case 2:
      return {
        type: "certificate.issued",
        actor: "sshcad",
        fields: { ...req, serial: n.serial, principals: ["bench"] },
      };
    case 3:
      return { type: "certificate.fetched", actor: n.user, fields: { ...req, serial: n.serial } };
    case 4:
      return {
        type: "scan.started",
        actor: "sshcad",
        fields: { ...req, scan: n.scan, host: n.host, trigger: "issue" },
      };
    case 5: {
      const result = { outcome: "ok", ports: [{ port: 22, protocol: "tcp", state: "open" }], expectedPorts: [22] };
      return { type: "scan.finished", actor: "sshcad", fields: { ...req, scan: n.scan, host: n.host, ...result } };
    }
    case 6:
      return { type: "auth.failed", actor: "anonymous", fields: { reason: "invalid API token", ip: "127.0.0.1" } };
    default:
      return { type: "certificate.revoked", actor: "approver", fields: { ...req, serial: n.serial, reason: "done" } };
  }
}

/**
 * Writes an audit log of `count` valid, chained records (what a long-lived CA accumulates), its
 * head file, and the live state that goes with it (not older than the log). Returns the head.
 */
export function seedAudit(dataDir: string, count: number): { seq: number; hash: string } {
  const dir = join(dataDir, "audit");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let head = { seq: 0, hash: GENESIS_HASH };
  let segment = 1;
  let lines: string[] = [];
  let bytes = 0;
  const flush = () => {
    writeFileSync(join(dir, segmentName(segment)), lines.join(""), { mode: 0o600, flag: "a" });
    lines = [];
  };
  for (let i = 1; i <= count; i++) {
    const r = chainRecord(head, { time: new Date(SEED_T0 + i * 1000).toISOString(), ...seedEvent(i) });
    head = r;
    const line = `${JSON.stringify(r)}\n`;
    lines.push(line);
    bytes += line.length;
    if (lines.length >= 10_000) flush();
    if (bytes >= 64 * 1024 * 1024) {
      flush();
      segment++;
      bytes = 0;
    }
  }
  flush();
  const slot = encodeSlot(head);
  writeFileSync(join(dir, HEAD_FILE), Buffer.concat([slot, slot]), { mode: 0o600 });
  writeFileSync(join(dataDir, "state.json"), JSON.stringify({ ...emptyState(new Date()), auditSeq: count }), {
    mode: 0o600,
  });
  // A long-lived CA's history is on disk already; without this the kernel would still be
  // writing back hundreds of MB of seeded records while the load runs, and every fdatasync
  // of the measurement would wait behind that.
  execFileSync("sync");
  return { seq: head.seq, hash: head.hash };
}
