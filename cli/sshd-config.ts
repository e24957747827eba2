import { isKrl } from "../src/http/contract.js";

/** One finding of `sshca doctor`. */
export interface Finding {
  level: "ok" | "warn" | "fail";
  check: string;
  message: string;
}

/** What the checks may look at on the target host. */
export interface HostFiles {
  read(path: string): Buffer | undefined;
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

/** Checks a target host's sshd settings against what sshca needs. Pure apart from `files`. */
export function checkSshd(config: Map<string, string>, files: HostFiles, caPublicKey: string | undefined): Finding[] {
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
    else if (caPublicKey && !text.split("\n").some((l) => l.split(/\s+/).slice(0, 2).join(" ") === caPublicKey)) {
      add("fail", "TrustedUserCAKeys", `${trusted} does not hold this CA's key (sshca ca pubkey)`);
    } else
      add(
        caPublicKey ? "ok" : "warn",
        "TrustedUserCAKeys",
        caPublicKey
          ? `${trusted} holds the CA key`
          : `${trusted} is readable (CA key not compared: no daemon configured)`,
      );
  }

  const principals = setting("AuthorizedPrincipalsFile");
  if (!principals) {
    add(
      setting("AuthorizedPrincipalsCommand") ? "warn" : "fail",
      "AuthorizedPrincipalsFile",
      "not set: a certificate would need the login name itself as a principal, and host scoping would not work (add: AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u)",
    );
  } else if (!principals.includes("%u")) {
    add(
      "fail",
      "AuthorizedPrincipalsFile",
      `${principals} is the same file for every account: any principal listed in it could log in as any user; use a %u path`,
    );
  } else add("ok", "AuthorizedPrincipalsFile", `${principals} (per login user)`);

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
