import { accessSync, constants } from "node:fs";

/**
 * The real programs the tests drive. A missing one is a failure with the install command,
 * never a skip: `npm run test:all` (and CI) installs them.
 */
const SEARCH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

export function tool(name: "sshd" | "ssh" | "ssh-keygen" | "ssh-agent" | "ssh-add" | "nmap"): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), ...SEARCH]) {
    if (!dir) continue;
    const path = `${dir}/${name}`;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // keep looking
    }
  }
  const pkg = name === "nmap" ? "nmap" : name === "sshd" ? "openssh-server" : "openssh-client";
  throw new Error(`${name} is not installed: apt-get install -y ${pkg} (npm run test:all does this)`);
}
