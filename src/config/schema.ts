import { isIP } from "node:net";
import { z } from "zod";
import { authSchema } from "./auth-schema.js";
import { duration, ident } from "./fields.js";
import { HOST_NAME, isPrintable, isReservedName, isValidAddress, LOGIN } from "./names.js";
import { evidenceSchema } from "./evidence-schema.js";
import { storageSchema } from "./storage-schema.js";

/**
 * The sshcad configuration: one YAML file, validated here once, with every default in
 * this file. Unknown keys are errors (a typo must not silently weaken a role).
 */

/** OpenSSH user-certificate extensions (PROTOCOL.certkeys section 2.2). */
export const EXTENSIONS = [
  "no-touch-required",
  "permit-X11-forwarding",
  "permit-agent-forwarding",
  "permit-port-forwarding",
  "permit-pty",
  "permit-user-rc",
] as const;
export type Extension = (typeof EXTENSIONS)[number];

const port = z.int().min(1).max(65535);

const cidr = z.string().refine((v) => {
  const [addr, bits, ...rest] = v.split("/");
  if (rest.length > 0 || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}, "expected an IP address or CIDR block such as 10.0.0.0/8");

const listenSchema = z
  .strictObject({
    /** IP address to bind; loopback by default. */
    address: z
      .string()
      .refine((v) => isIP(v) !== 0, "expected an IP address")
      .default("127.0.0.1"),
    /** TCP port; 0 picks a free one (the start-up banner and log say which). */
    port: z.int().min(0).max(65535).default(8443),
    /** Unix socket path instead of address/port (development and local reverse proxies). */
    socket: z.string().min(1).optional(),
    tls: z
      .strictObject({
        /** HTTPS with sshcad's own TLS CA. Plain HTTP only on loopback or a unix socket. */
        enabled: z.boolean().default(true),
        /** DNS names and IPs in the server certificate; default: localhost and the listen address. */
        subjectAltNames: z
          .array(
            z.string().refine((v) => isIP(v) !== 0 || /^[A-Za-z0-9.*-]{1,253}$/.test(v), "expected a DNS name or IP"),
          )
          .min(1)
          .optional(),
      })
      .prefault({}),
  })
  .refine((l) => l.tls.enabled || l.socket !== undefined || isLoopback(l.address), {
    message: "plain HTTP (tls.enabled: false) is only allowed on a loopback address or a unix socket",
    path: ["tls", "enabled"],
  })
  .prefault({});

/** 127.0.0.0/8, ::1 and the IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === "::1" || /^::ffff:127\./i.test(address);
}

const caSchema = z
  .strictObject({
    /** CA key algorithm when sshcad creates the key. RSA CAs are accepted if they already exist. */
    keyType: z.enum(["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521"]).default("ed25519"),
    /** Path of the CA private key (OpenSSH format); default <dataDir>/ca/ca_key. */
    keyFile: z.string().min(1).optional(),
    /**
     * valid_after is set this far before the moment of signing, for clock skew between the
     * CA and target hosts (sshd checks validity on its own clock). At most 2 minutes.
     */
    backdate: duration().pipe(z.int().min(0).max(120, "may be at most 2m")).prefault("1m"),
    /**
     * Who holds the CA keys: "file" (sshcad reads keyFile, 0600 in a 0700 directory) or "agent"
     * (an ssh-agent holds them, perhaps in a PKCS#11 token behind it; sshcad never reads them).
     */
    signer: z.enum(["file", "agent"]).default("file"),
    /** The ssh-agent's socket (ca.signer: agent); default $SSH_AUTH_SOCK. */
    agentSocket: z.string().min(1).optional(),
    /** ca.signer: agent: the user CA's public key file; default <keyFile>.pub. */
    publicKeyFile: z.string().min(1).optional(),
    /** The host CA, which signs inventory hosts' host keys (a key of its own). */
    host: z
      .strictObject({
        /** Path of the host CA private key; default <dataDir>/ca/host_ca_key. */
        keyFile: z.string().min(1).optional(),
        /** ca.signer: agent: the host CA's public key file; default <host.keyFile>.pub (none: no host CA). */
        publicKeyFile: z.string().min(1).optional(),
        /** Lifetime of a host certificate (hosts renew it before it ends: sshca host cert). */
        validity: duration()
          .pipe(
            z
              .int()
              .min(3600, "must be at least 1h")
              .max(365 * 86400, "may be at most 365d"),
          )
          .prefault("30d"),
      })
      .prefault({}),
  })
  .prefault({});

/** How often to scan during an access window: at least every 10 seconds (each watch is an nmap scan), at most a day. */
const watchInterval = () =>
  duration().pipe(z.int().min(10, "watch must be at least 10s (each watch is an nmap scan)").max(86400));

const hostSchema = z.strictObject({
  /** One IP address or DNS name, resolved and scanned by sshcad itself. */
  address: z.string().refine(isValidAddress, {
    message: "expected one IP address or DNS host name (no ranges, spaces or options)",
  }),
  /** Other names and addresses of the host: principals of its host certificate beside its name and address. */
  aliases: z
    .array(
      z.string().refine(isValidAddress, {
        message: "expected an IP address or DNS host name (no wildcards, ranges or spaces)",
      }),
    )
    .max(32)
    .default([]),
  /** TCP ports expected to be open; anything else found open is drift. */
  expectedPorts: z.array(port).default([22]),
  scan: z
    .strictObject({
      /** Ports to scan; default: expectedPorts plus nmap's top 100 TCP ports. */
      ports: z.array(port).min(1).optional(),
      /** nmap --host-timeout for this host. */
      timeout: duration().pipe(z.int().min(1).max(3600)).prefault("60s"),
      /** Probe services (nmap -sV --version-light) so "service changed" sees versions; slower. */
      versionDetection: z.boolean().default(false),
    })
    .prefault({}),
  /**
   * Scan this host this often while a certificate for it is live (as well as at issue and after
   * access); an unexpected change is drift raised at once. A role's `watch` applies too: the
   * shorter one wins.
   */
  watch: watchInterval().optional(),
});

const roleSchema = z
  .strictObject({
    description: z.string().max(200).default(""),
    /** Login names on the target hosts (AuthorizedPrincipalsFile %u). */
    principals: z
      .array(z.string().regex(LOGIN, `login names must match ${LOGIN.source}`))
      .min(1, "a role needs at least one login principal"),
    /** Inventory host names this role may be requested for. */
    hosts: z.array(z.string()).min(1, "a role needs at least one host"),
    /** Groups whose members may request this role. */
    requesters: z.array(ident("group")).min(1),
    /** Groups whose members may approve requests for this role. */
    approvers: z.array(ident("group")).default([]),
    /** Distinct approvers needed, the requester never counting. */
    approvalsRequired: z.int().min(1).max(10).default(1),
    /** Default: 15m, or maxTtl when that is shorter. */
    defaultTtl: duration().pipe(z.int().min(1)).optional(),
    maxTtl: duration()
      .pipe(
        z
          .int()
          .min(1)
          .max(7 * 86400),
      )
      .prefault("1h"),
    /** Certificate extensions; interactive ssh needs permit-pty. */
    extensions: z.array(z.enum(EXTENSIONS)).default(["permit-pty"]),
    criticalOptions: z
      .strictObject({
        /** sshd runs this instead of the user's command (PROTOCOL.certkeys "force-command"). */
        forceCommand: z
          .string()
          .min(1)
          .max(1024)
          .refine(isPrintable, "force-command must be printable ASCII")
          .optional(),
        /** Source addresses the certificate may be used from ("source-address"). */
        sourceAddress: z.array(cidr).min(1).optional(),
      })
      .prefault({}),
    /** How long a request may wait for approval. */
    pendingTtl: duration()
      .pipe(
        z
          .int()
          .min(1)
          .max(7 * 86400),
      )
      .prefault("1h"),
    /** Issue without approval. Explicit, announced at load and audited on every use. */
    autoApprove: z.boolean().default(false),
    /**
     * record: issue at once and scan the hosts off the request path. gate: scan first; an open
     * port outside a host's expectedPorts, or a failed scan, blocks issuance until an approver
     * overrides it.
     */
    scanOnIssue: z.enum(["record", "gate"]).default("record"),
    /**
     * Scan the role's hosts this often while its certificate is live (e.g. "5m"); an unexpected
     * change against the issue-time scan is drift raised at once, not at expiry.
     */
    watch: watchInterval().optional(),
    /**
     * Each approval must carry a fresh second factor bound to the request's digest: a signature by
     * a FIDO security key (sk) the approver enrolled, or (where allowed) a TOTP code (RFC 6238).
     */
    stepUp: z
      .strictObject({
        methods: z
          .array(z.enum(["sk", "totp", "webauthn"]))
          .min(1)
          .default(["sk"]),
        /**
         * sk signatures must also carry user verification (PIN or biometric, flag 0x04); WebAuthn
         * assertions are asked for with userVerification "required" and must carry the UV flag.
         */
        userVerification: z.boolean().default(false),
      })
      .optional(),
  })
  .transform((role) => ({
    ...role,
    defaultTtl: role.defaultTtl ?? Math.min(15 * 60, role.maxTtl),
  }));

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

const size = () =>
  z.union([z.string(), z.int()]).transform((v, ctx) => {
    const m = /^(\d{1,12})\s*(b|kb|mb|gb)?$/i.exec(String(v).trim());
    const bytes = m ? Number(m[1]) * SIZE_UNITS[(m[2] ?? "").toLowerCase()]! : Number.NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 4096) {
      ctx.addIssue({ code: "custom", message: `expected a size of at least 4KB, such as "64MB"` });
      return z.NEVER;
    }
    return bytes;
  });

/** Audit event types a webhook receives unless it lists its own ("*" for all). */
export const DEFAULT_WEBHOOK_EVENTS = [
  "request.created",
  "request.approved",
  "request.denied",
  "certificate.issued",
  "certificate.revoked",
  "scan.drift",
  "finding.raised",
  "request.approval_withdrawn",
  "auth.key_registered",
  "user.disabled",
  "user.removed",
];

const webhookSchema = z
  .strictObject({
    name: ident("webhook name"),
    url: z.url({ protocol: /^https?$/, message: "expected an http(s) URL" }),
    /** "json" (sshca's payload) or "slack" (an incoming-webhook {"text": ...} message). */
    format: z.enum(["json", "slack"]).default("json"),
    events: z
      .array(z.string().regex(/^(\*|[a-z_]+(\.[a-z_]+)?)$/, "expected an event type such as request.created, or *"))
      .min(1)
      .default(DEFAULT_WEBHOOK_EVENTS),
    /** The HMAC-SHA256 key, read from a file or an environment variable (never inline). */
    secretFile: z.string().min(1).optional(),
    secretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    timeout: duration().pipe(z.int().min(1).max(120)).prefault("10s"),
    retry: z
      .strictObject({
        initial: duration().pipe(z.int().min(1)).prefault("1s"),
        max: duration().pipe(z.int().min(1)).prefault("5m"),
      })
      .prefault({}),
  })
  .refine((w) => (w.secretFile === undefined) !== (w.secretEnv === undefined), {
    message: "give exactly one of secretFile or secretEnv",
  });

export type WebhookConfig = z.output<typeof webhookSchema>;

/** The web console sshcad serves under /console (see src/console/). */
const consoleSchema = z
  .strictObject({
    /**
     * The public https URL people reach the console at (scheme, host name, port; no path), e.g.
     * https://ca.example.com:8443. It is the WebAuthn origin (its host name the relying-party id),
     * the OIDC redirect base, and the link in notifications. Default: https://localhost:<port>.
     */
    url: z
      .url({ protocol: /^https$/, message: "console.url must be an https:// URL" })
      .refine((u) => {
        const parsed = new URL(u);
        return (
          (parsed.pathname === "/" || parsed.pathname === "") && !parsed.search && !parsed.hash && !parsed.username
        );
      }, "console.url is an origin only: https://HOST[:PORT], no path, query or credentials")
      .refine((u) => isIP(new URL(u).hostname.replace(/^\[|\]$/g, "")) === 0, {
        message: "console.url needs a host name: WebAuthn refuses IP-address origins",
      })
      .transform((u) => new URL(u).origin)
      .optional(),
    /** A console session ends after this long without use. */
    sessionIdle: duration().pipe(z.int().min(60).max(86400)).prefault("1h"),
    /** A console session ends this long after sign-in, used or not. */
    sessionMax: duration()
      .pipe(
        z
          .int()
          .min(300)
          .max(7 * 86400),
      )
      .prefault("8h"),
  })
  .refine((c) => c.sessionIdle <= c.sessionMax, {
    message: "sessionIdle must not be longer than sessionMax",
    path: ["sessionIdle"],
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    listen: listenSchema,
    /** State directory; default $STATE_DIRECTORY (systemd) or ./data. */
    dataDir: z.string().min(1).optional(),
    ca: caSchema,
    /** Embedded files (one sshcad) or one PostgreSQL database (several replicas). */
    storage: storageSchema,
    /** Groups referenced by users and roles. */
    groups: z.record(ident("group name"), z.strictObject({ description: z.string().default("") })),
    /** Static group memberships; `sshcad user add` adds users at run time. */
    users: z.record(ident("user name"), z.strictObject({ groups: z.array(ident("group")).min(1) })).default({}),
    /** Groups holding daemon-wide rights. */
    rights: z
      .strictObject({
        admin: z.array(ident("group")).default([]),
        audit: z.array(ident("group")).default([]),
      })
      .prefault({}),
    auth: authSchema,
    hosts: z.record(z.string().regex(HOST_NAME, `host names must match ${HOST_NAME.source}`), hostSchema),
    roles: z.record(ident("role name"), roleSchema),
    audit: z
      .strictObject({
        /** Start a new audit segment at this size ("64MB", "1GB" or bytes). */
        segmentSize: size().prefault("64MB"),
        /** Log the chain head (seq and hash) this often, for an outside system to keep. */
        headLogInterval: duration().pipe(z.int().min(1)).prefault("5m"),
      })
      .prefault({}),
    requests: z
      .strictObject({
        /** Denied, cancelled and expired requests (and issued ones past validBefore) stay this long, then only the audit log has them. */
        keepFinished: duration().prefault("15m"),
      })
      .prefault({}),
    webhooks: z.array(webhookSchema).default([]),
    /** Logins reported by target hosts' companions (sshca host), and the findings they raise. */
    evidence: evidenceSchema,
    console: consoleSchema,
    revocation: z
      .strictObject({
        /** Also write the KRL here (mode 0644, replaced atomically), e.g. for a co-located sshd. */
        krlFile: z.string().min(1).optional(),
      })
      .prefault({}),
    limits: z
      .strictObject({
        /** Failed sign-ins per client address per minute before answering 429. */
        failedAuthPerMinute: z.int().min(1).max(1_000_000).default(10),
        /** New access requests per user per minute. */
        requestsPerMinute: z.int().min(1).max(1_000_000).default(20),
        /**
         * Clients (addresses, users) each rate limiter remembers; beyond it the least recently
         * seen is forgotten, so an address flood costs bounded memory and constant work per call.
         */
        trackedClients: z.int().min(100).max(10_000_000).default(50_000),
        /** Open sign-in challenges per client address; more get 429 until one is used or expires. */
        challengesPerAddress: z.int().min(1).max(100_000).default(10),
        /** Open sign-in challenges per user name; a new one replaces that user's oldest. */
        challengesPerUser: z.int().min(1).max(1000).default(3),
        /** Open sign-in challenges in all (a memory bound); beyond it the oldest is dropped. */
        openChallenges: z.int().min(100).max(10_000_000).default(100_000),
        /** Concurrent connections in all (server.maxConnections); keep it well under LimitNOFILE. */
        connections: z.int().min(16).max(1_000_000).default(1024),
        /** Concurrent connections per client address; more are closed at once. */
        connectionsPerAddress: z.int().min(1).max(1_000_000).default(64),
        /** Time for a client to send its request headers (server.headersTimeout; slow loris). */
        headersTimeout: duration().pipe(z.int().min(1).max(600)).prefault("10s"),
        /** Time for a client to send its whole request (server.requestTimeout); answers may take longer. */
        requestTimeout: duration().pipe(z.int().min(1).max(3600)).prefault("30s"),
        /** Time for a client to finish the TLS handshake (takes effect at restart). */
        handshakeTimeout: duration().pipe(z.int().min(1).max(600)).prefault("10s"),
        /** Long-polls (GET /v1/requests/:id?version=&wait=) one user may have waiting at once; more get 429. */
        longPollsPerUser: z.int().min(1).max(100_000).default(8),
        /** Manual scans (POST /v1/scans) per user per minute. */
        manualScansPerMinute: z.int().min(1).max(100_000).default(10),
        /** Hosts queued or being scanned on demand; more get 503 with Retry-After instead of a backlog. */
        manualScanQueue: z.int().min(1).max(100_000).default(32),
        /** Reports (POST /v1/host/report, up to 25 logins each) one host's companion may send per minute. */
        hostReportsPerMinute: z.int().min(1).max(100_000).default(120),
      })
      .refine((l) => l.headersTimeout <= l.requestTimeout, {
        message: "headersTimeout must not be longer than requestTimeout",
        path: ["headersTimeout"],
      })
      .prefault({}),
    scanning: z
      .strictObject({
        /** Turning scanning off is explicit; with it on, sshcad refuses to start without nmap. */
        enabled: z.boolean().default(true),
        /** The nmap executable (absolute path or a name on PATH). */
        nmap: z
          .string()
          .regex(/^[A-Za-z0-9_./-]+$/, "expected a path to the nmap executable")
          .default("nmap"),
        /** Scans running at once. */
        concurrency: z.int().min(1).max(64).default(4),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const groups = new Set(Object.keys(cfg.groups));
    const hookNames = cfg.webhooks.map((w) => w.name);
    hookNames.forEach((n, i) => {
      if (hookNames.indexOf(n) !== i)
        ctx.addIssue({ code: "custom", path: ["webhooks", i, "name"], message: `duplicate webhook name "${n}"` });
    });
    const checkGroups = (list: string[], path: (string | number)[]) => {
      list.forEach((g, i) => {
        if (!groups.has(g)) {
          ctx.addIssue({ code: "custom", path: [...path, i], message: `unknown group "${g}"` });
        }
      });
    };
    for (const [name, user] of Object.entries(cfg.users)) {
      checkGroups(user.groups, ["users", name, "groups"]);
      if (isReservedName(name))
        ctx.addIssue({
          code: "custom",
          path: ["users", name],
          message: "this name is the daemon's own actor name in the audit log; choose another user name",
        });
    }
    checkGroups(cfg.rights.admin, ["rights", "admin"]);
    for (const [from, to] of Object.entries(cfg.auth.oidc?.groupMap ?? {}))
      checkGroups(Array.isArray(to) ? to : [to], ["auth", "oidc", "groupMap", from]);
    checkGroups(cfg.rights.audit, ["rights", "audit"]);
    for (const [name, role] of Object.entries(cfg.roles)) {
      const at = ["roles", name];
      checkGroups(role.requesters, [...at, "requesters"]);
      checkGroups(role.approvers, [...at, "approvers"]);
      role.hosts.forEach((h, i) => {
        if (!Object.hasOwn(cfg.hosts, h)) {
          ctx.addIssue({
            code: "custom",
            path: [...at, "hosts", i],
            message: `unknown host "${h}" (not in hosts:)`,
          });
        }
      });
      const watched = role.watch !== undefined || role.hosts.some((h) => cfg.hosts[h]?.watch !== undefined);
      if (watched && !cfg.scanning.enabled) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "watch"],
          message: "watching during the window (role or host watch) needs scanning.enabled: true",
        });
      }
      if (role.scanOnIssue === "gate" && !cfg.scanning.enabled) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "scanOnIssue"],
          message: "scanOnIssue: gate needs scanning.enabled: true",
        });
      }
      if (role.defaultTtl > role.maxTtl) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "defaultTtl"],
          message: "defaultTtl is longer than maxTtl",
        });
      }
      if (!role.autoApprove && role.approvers.length === 0) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "approvers"],
          message: "a role without autoApprove needs at least one approver group",
        });
      }
      if (role.principals.length * role.hosts.length > 256) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "principals"],
          message: "principals x hosts exceeds 256 certificate principals",
        });
      }
      for (const field of ["principals", "hosts", "extensions"] as const) {
        const list: readonly string[] = role[field];
        if (new Set(list).size !== list.length) {
          ctx.addIssue({ code: "custom", path: [...at, field], message: "duplicate entries" });
        }
      }
    }
  });

export type Config = z.output<typeof configSchema>;
export type RoleConfig = Config["roles"][string];
export type HostConfig = Config["hosts"][string];
