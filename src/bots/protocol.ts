import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { AccessRequest } from "../domain/request.js";

/**
 * The approver-bot exchange, as pure functions. sshcad POSTs a JSON description of the request
 * to the bot, signed with HMAC-SHA256 over "<unix time>.<body>" (X-Sshca-Signature:
 * t=<unix time>,sha256=<hex>) and valid until `expiresAt`; the bot answers 200 with
 * {request, digest, nonce, approve, comment?}, signed over the exact answer body
 * (X-Sshca-Signature: sha256=<hex>). An answer that is not signed with the shared secret, or that
 * names another request, digest or nonce, is no answer.
 */

/** What the bot is asked. */
export interface BotCall {
  type: "sshca.approval";
  bot: string;
  request: string;
  digest: string;
  nonce: string;
  requester: string;
  role: string;
  hosts: string[];
  principals: string[];
  /** The access asked for, in seconds (from `start` when scheduled). */
  ttlSeconds: number;
  start?: string;
  reason: string;
  /** The stages the bot may approve for. */
  stages: string[];
  sentAt: string;
  /** The bot's answer is not waited for after this. */
  expiresAt: string;
}

export function botCall(req: AccessRequest, bot: string, nonce: string, now: Date, timeoutSeconds: number): BotCall {
  return {
    type: "sshca.approval",
    bot,
    request: req.id,
    digest: req.digest,
    nonce,
    requester: req.requester,
    role: req.role,
    hosts: req.hosts,
    principals: req.principals,
    ttlSeconds: req.ttlSeconds,
    ...(req.start ? { start: req.start } : {}),
    reason: req.reason,
    stages: (req.stages ?? []).filter((s) => (s.bots ?? []).includes(bot)).map((s) => s.name),
    sentAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + timeoutSeconds * 1000).toISOString(),
  };
}

const hmac = (secret: string, data: string) => createHmac("sha256", secret).update(data, "utf8").digest("hex");

/** The signature header of a call: the time it was made is signed with the body, so it cannot be replayed later. */
export function signCall(secret: string, body: string, now: Date): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},sha256=${hmac(secret, `${t}.${body}`)}`;
}

/** The signature header a bot puts on its answer. */
export function signAnswer(secret: string, body: string): string {
  return `sha256=${hmac(secret, body)}`;
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks a call's signature as a bot would: right secret, made within `maxAgeSeconds` of `now`. */
export function verifyCall(
  secret: string,
  body: string,
  header: string | undefined,
  now: Date,
  maxAgeSeconds: number,
): boolean {
  const m = /^t=(\d{1,12}),sha256=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const age = now.getTime() / 1000 - Number(m[1]);
  return Math.abs(age) <= maxAgeSeconds && sameHex(m[2]!, hmac(secret, `${m[1]}.${body}`));
}

const answerSchema = z.strictObject({
  request: z.string(),
  digest: z.string(),
  nonce: z.string(),
  approve: z.boolean(),
  comment: z.string().max(500).optional(),
});

export type BotAnswerBody = z.output<typeof answerSchema>;

/** What an answer means: yes (with a comment), no, or not an answer (and why). */
export type AnswerVerdict = { answer: "approve" | "decline"; comment?: string } | { answer: "error"; error: string };

/** Judges a bot's HTTP answer to `call`. Pure. */
export function judgeAnswer(
  secret: string,
  call: BotCall,
  status: number,
  body: string,
  signature: string | undefined,
): AnswerVerdict {
  if (status !== 200) return { answer: "error", error: `the bot answered HTTP ${status}` };
  if (!sameHex(signature ?? "", signAnswer(secret, body)))
    return { answer: "error", error: "the answer's signature does not verify (X-Sshca-Signature)" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { answer: "error", error: "the answer is not JSON" };
  }
  const a = answerSchema.safeParse(parsed);
  if (!a.success) return { answer: "error", error: "the answer is not {request, digest, nonce, approve, comment?}" };
  if (a.data.request !== call.request || a.data.digest !== call.digest || a.data.nonce !== call.nonce)
    return { answer: "error", error: "the answer is about another request, digest or call (nonce)" };
  const comment = a.data.comment?.replace(/[^\x20-\x7e]/g, "").trim();
  return { answer: a.data.approve ? "approve" : "decline", ...(comment ? { comment } : {}) };
}
