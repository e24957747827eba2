import { join } from "node:path";
import type { Logger } from "pino";
import { SshcaError } from "../errors.js";
import { type ChainHead, HEAD_FILE, HeadFile, readHeadFile } from "./head-file.js";
import { findRecord } from "./segments.js";

/**
 * Matches the head file against the log when the log is opened, before anything is written:
 * - log shorter than the head: records that were acknowledged are gone (cut at a record
 *   boundary), so the daemon refuses to start;
 * - same length, other hash: the log was replaced;
 * - log longer: the daemon stopped after a batch reached the segment and before the head was
 *   written; those records were durable, so the head moves to them (if the record the head
 *   names is still there, unchanged);
 * - no head file next to records: a data directory from before the head file existed (or the
 *   file was deleted): it is created from the log, and the caller audits that.
 */
export async function anchorHead(
  dir: string,
  logHead: ChainHead,
  log: Logger,
): Promise<{ file: HeadFile; created: boolean }> {
  const path = join(dir, HEAD_FILE);
  const found = await readHeadFile(dir);
  if (found.state === "missing") {
    if (logHead.seq > 0) log.warn({ path, head: logHead }, "the audit head file is missing; creating it from the log");
    return { file: await HeadFile.create(dir, logHead), created: logHead.seq > 0 };
  }
  if (found.state === "damaged") {
    throw new SshcaError(
      "state_invalid",
      `the audit head file ${path} is damaged; refusing to start (run: sshcad audit verify; if the log is intact, remove the file and start again)`,
    );
  }
  const { head, slot } = found;
  if (head.seq > logHead.seq) {
    throw new SshcaError(
      "state_invalid",
      `the audit log ends at record ${logHead.seq} but its head file says record ${head.seq} was written: the audit log was truncated (run: sshcad audit verify)`,
    );
  }
  const atHead = head.seq === logHead.seq ? logHead : head.seq > 0 ? await findRecord(dir, head.seq) : head;
  if (atHead?.hash !== head.hash) {
    throw new SshcaError(
      "state_invalid",
      `audit record ${head.seq} is not the one the head file ${path} names: the audit log was replaced (run: sshcad audit verify)`,
    );
  }
  const file = new HeadFile(dir, slot);
  if (logHead.seq > head.seq) {
    log.warn(
      { from: head.seq, to: logHead.seq },
      "audit records after the head file were durable (stopped before the head was written); head moved",
    );
    await file.write(logHead);
  }
  return { file, created: false };
}
