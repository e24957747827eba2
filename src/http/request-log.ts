import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import type { Logger } from "pino";

const GOOD_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A request id (the caller's X-Request-Id when it is tame, else a new one), echoed in the
 * response and in one JSON log line per request. The line never holds headers, query strings
 * or bodies, so no token or key reaches the log.
 */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get("x-request-id");
    const id = given && GOOD_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set("X-Request-Id", id);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const entry = {
        reqId: id,
        method: req.method,
        // originalUrl: routers rewrite req.url while they run; the query string is left out.
        path: req.originalUrl.split("?")[0],
        status: res.statusCode,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        ...(res.locals.identity ? { user: (res.locals.identity as { user: string }).user } : {}),
      };
      if (["/healthz", "/readyz", "/metrics"].includes(entry.path ?? "")) log.debug(entry, "request");
      else log.info(entry, "request");
    });
    next();
  };
}
