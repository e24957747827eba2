import express, { type Express } from "express";
import type { Logger } from "pino";
import { z } from "zod";
import type { AuditQuery } from "../audit/query.js";
import type { CaKeys } from "../ca/keyring.js";
import { caAdminRoutes } from "./ca-routes.js";
import type { HostCertService } from "../hostcerts/service.js";
import { hostCertAdminRoutes } from "./host-cert-routes.js";
import { HOST_NAME, IDENT } from "../config/names.js";
import { errorHandler, notFoundHandler } from "../http/errors.js";
import { FINGERPRINT, jsonBody, parse } from "../http/schemas.js";
import { createHostCredential, listHostCredentials, revokeHostCredential } from "./host-credentials.js";
import { disableUser, enableUser, removeUser, removeUserKey } from "./offboarding.js";
import { type AdminDeps, addUser, addUserKey, createToken, listTokens, listUsers, revokeToken } from "./users.js";

/**
 * The admin API, served only on a unix socket inside the 0700 data directory: whoever can
 * connect already owns the daemon's files. `sshcad user add` and friends use it while the
 * daemon runs, so there is one writer of the state file.
 */
export function createAdminApp(
  deps: AdminDeps & { auditQuery: AuditQuery; cas: CaKeys; hostCerts?: HostCertService | undefined },
  log: Logger,
): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "4kb", type: "application/json" }));
  const userBody = z.strictObject({
    name: z.string().regex(IDENT),
    groups: z.array(z.string().regex(IDENT)).min(1),
  });

  app.get("/users", (_req, res) => {
    res.json({ users: listUsers(deps) });
  });
  app.post("/users", async (req, res) => {
    const body = parse(userBody, jsonBody(req), "user");
    res.status(201).json(await addUser(deps, body.name, body.groups, "admin"));
  });
  app.post("/users/:name/keys", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    const { publicKey } = parse(z.strictObject({ publicKey: z.string().max(16 * 1024) }), jsonBody(req), "key");
    res.status(201).json(await addUserKey(deps, name, publicKey));
  });
  const cutOffBody = z.strictObject({ keepCertificates: z.boolean().default(false) });
  app.post("/users/:name/disable", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    const body = parse(cutOffBody, jsonBody(req), "disable");
    res.json(await disableUser(deps, name, "admin", body));
  });
  app.post("/users/:name/enable", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    res.json(await enableUser(deps, name, "admin"));
  });
  app.post("/users/:name/remove", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    const body = parse(cutOffBody, jsonBody(req), "remove");
    res.json(await removeUser(deps, name, "admin", body));
  });
  app.post("/users/:name/keys/remove", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    const { fingerprint } = parse(z.strictObject({ fingerprint: FINGERPRINT }), jsonBody(req), "key");
    res.json(await removeUserKey(deps, name, fingerprint, "admin"));
  });
  app.post("/users/:name/tokens", async (req, res) => {
    const name = parse(z.string().regex(IDENT), req.params.name, "user name");
    res.status(201).json(await createToken(deps, name, "admin"));
  });

  app.get("/tokens", (req, res) => {
    const user = typeof req.query.user === "string" ? req.query.user : undefined;
    res.json({ tokens: listTokens(deps, user) });
  });
  app.post("/tokens/:id/revoke", async (req, res) => {
    const id = parse(z.string().regex(/^[a-z2-7]{16}$/, "malformed token id"), req.params.id, "token id");
    res.json(await revokeToken(deps, id, "admin"));
  });

  const hostCredentialBody = z.strictObject({ ttlSeconds: z.int() });
  app.post("/hosts/:host/credentials", async (req, res) => {
    const host = parse(z.string().regex(HOST_NAME), req.params.host, "host name");
    const body = parse(hostCredentialBody, jsonBody(req), "host credential");
    res.status(201).json(await createHostCredential(deps, host, body.ttlSeconds, "admin"));
  });
  app.get("/host-credentials", (req, res) => {
    const host = typeof req.query.host === "string" ? req.query.host : undefined;
    res.json({ credentials: listHostCredentials(deps, host) });
  });
  app.post("/host-credentials/:id/revoke", async (req, res) => {
    const id = parse(z.string().regex(/^[a-z2-7]{16}$/, "malformed credential id"), req.params.id, "credential id");
    res.json(await revokeHostCredential(deps, id, "admin"));
  });

  app.get("/audit/verify", async (_req, res) => {
    res.json(await deps.auditQuery.verify());
  });

  app.use("/ca", caAdminRoutes(deps.cas));
  app.use("/host-certs", hostCertAdminRoutes(deps.hostCerts));

  app.use(notFoundHandler);
  app.use(errorHandler(log));
  return app;
}
