import type { ApproverBotConfig } from "../config/policy-schema.js";
import type { AccessRequest } from "../domain/request.js";
import { type BotCall, botCall, judgeAnswer, signCall } from "./protocol.js";

/** Longest answer read from a bot; anything longer is not an answer. */
const MAX_ANSWER_BYTES = 16 * 1024;

export interface CallResult {
  answer: "approve" | "decline" | "error";
  comment?: string;
  error?: string;
  durationMs: number;
}

/**
 * Asks one approver bot about one request: a signed POST that is given `timeout` seconds in all
 * (connect, answer, body), no redirects followed, the answer read up to 16 KiB and judged by
 * judgeAnswer. Never throws: a failure is an answer of "error" with a reason.
 */
export async function askBot(
  name: string,
  bot: ApproverBotConfig,
  secret: string,
  req: AccessRequest,
  nonce: string,
  now: () => Date,
  stopping?: AbortSignal,
): Promise<CallResult> {
  const started = now();
  const call: BotCall = botCall(req, name, nonce, started, bot.timeout);
  const body = JSON.stringify(call);
  const done = (r: Omit<CallResult, "durationMs">): CallResult => ({
    ...r,
    durationMs: Math.max(0, now().getTime() - started.getTime()),
  });
  const signals = [AbortSignal.timeout(bot.timeout * 1000), ...(stopping ? [stopping] : [])];
  try {
    const res = await fetch(bot.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "sshcad",
        "x-sshca-bot": name,
        "x-sshca-signature": signCall(secret, body, started),
      },
      body,
      redirect: "manual",
      signal: AbortSignal.any(signals),
    });
    const text = await readLimited(res);
    if (text === undefined)
      return done({ answer: "error", error: `the answer is longer than ${MAX_ANSWER_BYTES} bytes` });
    return done(judgeAnswer(secret, call, res.status, text, res.headers.get("x-sshca-signature") ?? undefined));
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === "TimeoutError" || e.name === "AbortError"
        ? `no answer within ${bot.timeout}s`
        : `cannot reach the bot (${(e.cause as Error | undefined)?.message ?? e.message})`;
    return done({ answer: "error", error: why });
  }
}

async function readLimited(res: Response): Promise<string | undefined> {
  if (!res.body) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await res.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("utf8");
}
