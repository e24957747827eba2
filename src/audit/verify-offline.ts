import { type ChainHead, HEAD_FILE, readHeadFile } from "./head-file.js";
import { type Anchor, type VerifyResult, verifyAudit } from "./verify.js";

/**
 * `sshcad audit verify` with no daemon running: the chain, checked against every head known on
 * disk (the state file's sequence number, the head file's sequence number and hash) and one the
 * operator kept elsewhere. A head file missing (or damaged) next to records is itself a finding:
 * without it a log cut at a record boundary after the state's last change goes unnoticed.
 */
export async function verifyOffline(
  auditDir: string,
  known: { stateSeq?: number | undefined; expectHead?: ChainHead | undefined },
): Promise<VerifyResult> {
  const headFile = await readHeadFile(auditDir);
  const anchors: Anchor[] = [];
  if (known.stateSeq !== undefined) anchors.push({ seq: known.stateSeq, source: "state file" });
  if (headFile.state === "ok") anchors.push({ ...headFile.head, source: "audit head file" });
  if (known.expectHead) anchors.push({ ...known.expectHead, source: "--expect-head" });
  const result = await verifyAudit(auditDir, { anchors });
  if (!result.ok || headFile.state === "ok" || result.records === 0) return result;
  const message =
    headFile.state === "missing"
      ? `the head file ${HEAD_FILE} is missing next to ${result.records} records, so records cut off the end of the log cannot be detected (a data directory from before sshcad kept one gets it at the next start; otherwise it was deleted)`
      : `the head file ${HEAD_FILE} is damaged, so records cut off the end of the log cannot be detected`;
  return {
    ...result,
    ok: false,
    problem: {
      kind: headFile.state === "missing" ? "head_missing" : "malformed",
      segment: HEAD_FILE,
      line: 0,
      message,
    },
  };
}
