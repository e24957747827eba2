import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";
import { type ErrorCode, isSshcaError, safeErr } from "../errors.js";
import type { ErrorBody } from "./contract.js";

/** Retry-After of a 503 that names no time of its own. */
const RETRY_UNAVAILABLE_SECONDS = 5;

/** The one place error codes become HTTP statuses. */
export const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  config_invalid: 500,
  state_invalid: 500,
  internal: 500,
};

const body = (code: string, message: string, details?: Record<string, unknown>): ErrorBody => ({
  error: { code, message, ...(details ? { details } : {}) },
});

/** Express body-parser errors carry a `type`; map the ones a client can cause. Never echo err.body. */
function parserError(err: unknown): [number, string, string] | undefined {
  const type = (err as { type?: unknown }).type;
  switch (type) {
    case "entity.too.large":
      return [413, "payload_too_large", "request body is too large"];
    case "entity.parse.failed":
      return [400, "bad_request", "request body is not valid JSON"];
    case "encoding.unsupported":
    case "charset.unsupported":
      return [415, "unsupported_media_type", "request body must be UTF-8 JSON"];
    case "request.aborted":
    case "request.size.invalid":
    case "stream.encoding.set":
    case "stream.not.readable":
    case "parameters.too.many":
      return [400, "bad_request", "malformed request body"];
    default:
      return undefined;
  }
}

/** JSON errors whatever NODE_ENV says: no stack traces, no raw bodies. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (isSshcaError(err)) {
      const status = STATUS[err.code];
      if (status >= 500)
        log.error({ err: safeErr(err), path: req.path, reqId: res.locals.requestId }, "request failed");
      const message = status >= 500 && err.code !== "unavailable" ? "internal error; see the CA log" : err.message;
      // Unavailable is "try again shortly" (a lost database, a log that cannot be written, a
      // shutdown): clients and load balancers are told when, RFC 9110 section 10.2.3.
      const retryAfter =
        err.details?.retryAfter ?? (err.code === "unavailable" ? RETRY_UNAVAILABLE_SECONDS : undefined);
      if (typeof retryAfter === "number") res.set("Retry-After", String(retryAfter));
      res.status(status).json(body(err.code, message, status < 500 ? err.details : undefined));
      return;
    }
    const parsed = parserError(err);
    if (parsed) {
      res.status(parsed[0]).json(body(parsed[1], parsed[2]));
      return;
    }
    log.error(
      { err: safeErr(err), stack: (err as Error)?.stack, path: req.path, reqId: res.locals.requestId },
      "unhandled error",
    );
    res.status(500).json(body("internal", "internal error; see the CA log"));
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(body("not_found", `no such endpoint: ${req.method} ${req.path}`));
};
