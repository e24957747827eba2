import { createHash } from "node:crypto";
import { type CaKeyView, type CaView, isKrl } from "../src/http/contract.js";

/** One finding of `sshca doctor`. */
export interface Finding {
  level: "ok" | "warn" | "fail";
  check: string;
  message: string;
}

/** What the checks may look at on the target host. */
export interface HostFiles {
  read(path: string): Buffer | undefined;
  isDir(path: string): boolean;
  /** Paths matching a glob with `*` in its last component (sshd's Include). */
  glob(pattern: string): string[];
}

/**
 * sshd_config as sshd reads it for the global section: keywords are case-insensitive, the first
 * value obtained wins (sshd_config(5)), Include is expanded in place, a Match block ends the
 * global section. Pure apart from `files`.
 */
export function parseSshdConfig(text: string, files: HostFiles, depth = 0): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const m = /^(\S+)\s*=?\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (key === "match") break;
    if (key === "include" && depth < 8) {
      for (const pattern of value.split(/\s+/)) {
        const abs = pattern.startsWith("/") ? pattern : `/etc/ssh/${pattern}`;
        for (const path of files.glob(abs)) {
          const inner = files.read(path);
          if (!inner) continue;
          for (const [k, v] of parseSshdConfig(inner.toString("utf8"), files, depth + 1))
            if (!out.has(k)) out.set(k, v);
        }
      }
      continue;
    }
    if (!out.has(key)) out.set(key, value);
  }
  return out;
}

/** What `sshca principals --host H` says host H's principals files must list, per login user. */
export interface ExpectedPrincipals {
  host: string;
  principals: Record<string, string[]>;
}

/** What the daemon says a target host must trust now (GET /v1/ca): the keys of the rotation phase. */
export type TrustedCa = Pick<CaView, "keys" | "retired">;

const WHY_MISSING: Record<CaKeyView["status"], string> = {
  current: "this CA's key",
  next: "the next CA key staged for rotation (once signing switches to it, certificates would be refused here)",
  previous: "the previous CA key (certificates it signed that are still valid would be refused here)",
};

/** SHA256:... of the key on a public key line ("type base64 [comment]"). */
function lineFingerprint(line: string): string | undefined {
  const b64 = line.trim().split(/\s+/)[1];
  if (!b64) return undefined;
  return `SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Does the TrustedUserCAKeys file hold every key the rotation phase needs (the signing key, a
 * staged next key, previous keys with live certificates), and no retired one?
 */
function trustedKeyFindings(path: string, text: string, ca: TrustedCa): Finding[] {
  const out: Finding[] = [];
  const lines = text.split("\n").map((l) => l.replace(/#.*$/, "").trim());
  const held = new Set(lines.map((l) => l.split(/\s+/).slice(0, 2).join(" ")));
  const fingerprints = new Set(lines.map(lineFingerprint));
  const missing = ca.keys.filter((k) => !held.has(k.publicKey));
  for (const k of missing)
    out.push({
      level: "fail",
      check: "TrustedUserCAKeys",
      message: `${path} does not hold ${WHY_MISSING[k.status]} ${k.fingerprint} (write it from: sshca ca pubkey)`,
    });
  if (missing.length === 0) {
    const extra = ca.keys.filter((k) => k.status !== "current").map((k) => `${k.status} ${k.fingerprint}`);
    out.push({
      level: "ok",
      check: "TrustedUserCAKeys",
      message: extra.length
        ? `${path} holds the CA key and the rotation's ${extra.join(", ")}`
        : `${path} holds the CA key`,
    });
  }
  for (const fp of ca.retired.filter((r) => fingerprints.has(r)))
    out.push({
      level: "warn",
      check: "TrustedUserCAKeys",
      message: `${path} still trusts the retired CA key ${fp} (the KRL revokes it; remove its line: sshca ca pubkey)`,
    });
  return out;
}

/**
 * Checks a target host's sshd settings against what sshca needs. With `expected`, each login's
 * AuthorizedPrincipalsFile must list that login's principals. Pure apart from `files`.
 */
export function checkSshd(
  config: Map<string, string>,
  files: HostFiles,
  ca: TrustedCa | undefined,
  expected?: ExpectedPrincipals,
): Finding[] {
  const findings: Finding[] = [];
  const add = (level: Finding["level"], check: string, message: string) => findings.push({ level, check, message });
  const setting = (k: string) => {
    const v = config.get(k.toLowerCase());
    return v === undefined || v.toLowerCase() === "none" ? undefined : v;
  };

  const trusted = setting("TrustedUserCAKeys");
  if (!trusted)
    add(
      "fail",
      "TrustedUserCAKeys",
      "not set: sshd trusts no user CA (add: TrustedUserCAKeys /etc/ssh/sshca_user_ca.pub)",
    );
  else {
    const text = files.read(trusted)?.toString("utf8");
    if (text === undefined) add("fail", "TrustedUserCAKeys", `${trusted} cannot be read`);
    else if (!ca)
      add("warn", "TrustedUserCAKeys", `${trusted} is readable (CA key not compared: no daemon configured)`);
    else for (const f of trustedKeyFindings(trusted, text, ca)) findings.push(f);
  }

  const principals = setting("AuthorizedPrincipalsFile");
  if (!principals) {
    add(
      setting("AuthorizedPrincipalsCommand") ? "warn" : "fail",
      "AuthorizedPrincipalsFile",
      "not set: a certificate would need the login name itself as a principal, and host scoping would not work (add: AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u)",
    );
  } else if (!/%[uhU]/.test(principals) && principals.startsWith("/")) {
    // sshd_config(5): %u, %h, %U or a path relative to the home directory make it per account.
    add(
      "fail",
      "AuthorizedPrincipalsFile",
      `${principals} is the same file for every account: any principal listed in it could log in as any user; use a %u path`,
    );
    if (principals.startsWith("/") && !principals.includes("%") && files.read(principals) === undefined)
      add("warn", "AuthorizedPrincipalsFile", `${principals} does not exist`);
  } else {
    add("ok", "AuthorizedPrincipalsFile", `${principals} (per login user)`);
    for (const f of checkPrincipalsFiles(principals, files, expected)) findings.push(f);
  }

  const revoked = setting("RevokedKeys");
  if (!revoked)
    add(
      "fail",
      "RevokedKeys",
      "not set: revoked certificates keep working until they expire (add: RevokedKeys /etc/ssh/sshca_revoked.krl)",
    );
  else {
    const krl = files.read(revoked);
    if (krl === undefined)
      add(
        "fail",
        "RevokedKeys",
        `${revoked} is missing or unreadable: sshd refuses EVERY public-key login; run the KRL sync (sshca krl fetch --out ${revoked})`,
      );
    else if (!isKrl(krl)) add("fail", "RevokedKeys", `${revoked} is not a KRL`);
    else add("ok", "RevokedKeys", `${revoked} is a KRL (${krl.length} bytes)`);
  }

  const level = (config.get("loglevel") ?? "INFO").toUpperCase();
  if (level === "VERBOSE" || level.startsWith("DEBUG"))
    add("ok", "LogLevel", `${level}: sshd logs certificate key ids and serials`);
  else add("fail", "LogLevel", `${level}: sshd will not log which certificate was used (set LogLevel VERBOSE)`);

  if ((config.get("pubkeyauthentication") ?? "yes").toLowerCase() === "no")
    add("fail", "PubkeyAuthentication", "no: certificates cannot be used");
  return findings;
}

/**
 * The per-user files behind an AuthorizedPrincipalsFile pattern (sshd_config(5) TOKENS: %% and
 * %u are expanded here; %h and %U and relative paths depend on the account and are not guessed).
 */
function checkPrincipalsFiles(pattern: string, files: HostFiles, expected: ExpectedPrincipals | undefined): Finding[] {
  const out: Finding[] = [];
  const add = (level: Finding["level"], message: string) =>
    out.push({ level, check: "AuthorizedPrincipalsFile", message });
  if (!pattern.startsWith("/") || /%[hU]/.test(pattern)) {
    add("warn", `${pattern} depends on the account (home directory or uid); its files were not checked`);
    return out;
  }
  const pathFor = (login: string) => pattern.replace(/%([%u])/g, (_, t: string) => (t === "u" ? login : "%"));
  if (expected) {
    for (const [login, lines] of Object.entries(expected.principals)) {
      const path = pathFor(login);
      const fix = `(write it from: sshca principals --host ${expected.host} --user ${login})`;
      const text = files.read(path)?.toString("utf8");
      if (text === undefined) {
        add("fail", `${path} is missing: ${login} cannot log in with a certificate for ${expected.host} ${fix}`);
        continue;
      }
      const listed = new Set(text.split("\n").map((l) => l.replace(/#.*$/, "").trim()));
      const missing = lines.filter((l) => !listed.has(l));
      if (missing.length) add("fail", `${path} does not list ${missing.join(", ")} ${fix}`);
      else add("ok", `${path} lists what ${login} needs on ${expected.host}`);
    }
    return out;
  }
  // Without the host's logins, at least the directory of the per-user files must be there.
  const slash = pattern.lastIndexOf("/");
  if (pattern.indexOf("%u") < slash) {
    add("warn", `${pattern}: the per-user files were not checked (give --host NAME)`);
    return out;
  }
  const dir = pattern.slice(0, slash) || "/";
  if (!files.isDir(dir)) add("fail", `${dir} does not exist: no login can use a certificate here`);
  else add("warn", `${dir} exists; its per-user files were not checked (give --host NAME)`);
  return out;
}
