import { describe, expect, test } from "vitest";
import { botsToAsk } from "../../src/bots/service.js";
import { type BotCall, judgeAnswer, signAnswer, signCall, verifyCall } from "../../src/bots/protocol.js";
import type { AccessRequest } from "../../src/domain/request.js";

const secret = "bot-secret";
const now = new Date("2026-01-05T09:00:00Z");
const call: BotCall = {
  type: "sshca.approval",
  bot: "pager",
  request: "rq_aaaaaaaaaaaaaaaa",
  digest: `sha256:${"a".repeat(64)}`,
  nonce: "n1",
  requester: "alice",
  role: "oncall",
  hosts: ["web-1"],
  principals: ["deploy@web-1"],
  ttlSeconds: 900,
  reason: "INC-1",
  stages: ["oncall"],
  sentAt: now.toISOString(),
  expiresAt: new Date(now.getTime() + 10_000).toISOString(),
};
const answer = (o: Record<string, unknown>) =>
  JSON.stringify({ request: call.request, digest: call.digest, nonce: call.nonce, approve: true, ...o });

describe("the call's signature, as a bot checks it", () => {
  const body = JSON.stringify(call);
  const header = signCall(secret, body, now);
  test.each([
    { name: "ok/signed just now", secret, body, header, at: now, ok: true },
    { name: "ok/within the bound", secret, body, header, at: new Date(now.getTime() + 9_000), ok: true },
    { name: "fail/replayed after the bound", secret, body, header, at: new Date(now.getTime() + 11_000), ok: false },
    { name: "fail/another secret", secret: "other", body, header, at: now, ok: false },
    { name: "fail/a changed body", secret, body: body.replace("INC-1", "INC-2"), header, at: now, ok: false },
    {
      name: "fail/the time in the header changed",
      secret,
      body,
      header: header.replace(/t=\d+/, `t=${Math.floor(now.getTime() / 1000) + 5}`),
      at: now,
      ok: false,
    },
    { name: "fail/no header", secret, body, header: undefined, at: now, ok: false },
  ])("$name", ({ secret: s, body: b, header: h, at, ok }) => {
    expect(verifyCall(s, b, h, at, 10)).toBe(ok);
  });
});

describe("judgeAnswer: what a bot's answer means", () => {
  test.each([
    {
      name: "ok/yes",
      status: 200,
      body: answer({ comment: "alice is on call" }),
      sign: true,
      want: { answer: "approve", comment: "alice is on call" },
    },
    { name: "ok/no", status: 200, body: answer({ approve: false }), sign: true, want: { answer: "decline" } },
    {
      name: "fail/unsigned",
      status: 200,
      body: answer({}),
      sign: false,
      want: { answer: "error", error: "the answer's signature does not verify (X-Sshca-Signature)" },
    },
    {
      name: "fail/signed with another secret",
      status: 200,
      body: answer({}),
      sign: "other",
      want: { answer: "error", error: "the answer's signature does not verify (X-Sshca-Signature)" },
    },
    {
      name: "fail/an answer for another request",
      status: 200,
      body: answer({ request: "rq_bbbbbbbbbbbbbbbb" }),
      sign: true,
      want: { answer: "error", error: "the answer is about another request, digest or call (nonce)" },
    },
    {
      name: "fail/an old answer replayed (another nonce)",
      status: 200,
      body: answer({ nonce: "n0" }),
      sign: true,
      want: { answer: "error", error: "the answer is about another request, digest or call (nonce)" },
    },
    {
      name: "fail/a yes for another digest",
      status: 200,
      body: answer({ digest: `sha256:${"b".repeat(64)}` }),
      sign: true,
      want: { answer: "error", error: "the answer is about another request, digest or call (nonce)" },
    },
    {
      name: "fail/not JSON",
      status: 200,
      body: "yes",
      sign: true,
      want: { answer: "error", error: "the answer is not JSON" },
    },
    {
      name: "fail/extra fields",
      status: 200,
      body: answer({ principals: ["root"] }),
      sign: true,
      want: { answer: "error", error: "the answer is not {request, digest, nonce, approve, comment?}" },
    },
    {
      name: "fail/approve as a string",
      status: 200,
      body: answer({ approve: "true" }),
      sign: true,
      want: { answer: "error", error: "the answer is not {request, digest, nonce, approve, comment?}" },
    },
    {
      name: "fail/an HTTP error",
      status: 503,
      body: "",
      sign: true,
      want: { answer: "error", error: "the bot answered HTTP 503" },
    },
    {
      name: "ok/control characters are dropped from the comment",
      status: 200,
      body: answer({ comment: "on\ncall\u0007" }),
      sign: true,
      want: { answer: "approve", comment: "oncall" },
    },
  ])("$name", ({ status, body, sign, want }) => {
    const header = sign === false ? undefined : signAnswer(sign === true ? secret : sign, body);
    expect(judgeAnswer(secret, call, status, body, header)).toEqual(want);
  });
});

describe("botsToAsk: each bot once, while the request waits", () => {
  const req = (over: Partial<AccessRequest>) =>
    ({
      state: "pending",
      stages: [
        { name: "a", groups: ["sre"], count: 2, bots: ["pager", "chat"] },
        { name: "b", groups: ["leads"], count: 2, bots: ["pager"] },
      ],
      ...over,
    }) as AccessRequest;
  test.each([
    { name: "ok/every bot named, once", r: req({}), want: ["chat", "pager"] },
    {
      name: "ok/an answered bot is not asked again (whatever it said)",
      r: req({ bots: { pager: { at: "", answer: "error" } } }),
      want: ["chat"],
    },
    { name: "ok/nothing once it stopped waiting", r: req({ state: "approved" }), want: [] },
    { name: "ok/nothing without bots", r: req({ stages: [{ name: "a", groups: ["sre"], count: 1 }] }), want: [] },
  ])("$name", ({ r, want }) => {
    expect(botsToAsk(r)).toEqual(want);
  });
});
