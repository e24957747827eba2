import { accessSync, constants } from "node:fs";

/**
 * The real programs the tests drive. A missing one is a failure with the install command,
 * never a skip: `npm run test:all` (and CI) installs them.
 */
/** What compiling test/fixtures/sk-soft needs (Debian: gcc does not pull in libc6-dev by itself). */
export const GCC_PACKAGES = "gcc libc6-dev libssl-dev";

const SEARCH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

export function tool(name: "sshd" | "ssh" | "ssh-keygen" | "ssh-agent" | "ssh-add" | "nmap" | "gcc"): string {
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
  const pkg =
    name === "nmap" ? "nmap" : name === "sshd" ? "openssh-server" : name === "gcc" ? GCC_PACKAGES : "openssh-client";
  throw new Error(`${name} is not installed: apt-get install -y ${pkg} (npm run test:all does this)`);
}
