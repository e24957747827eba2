import { isIP } from "node:net";

/** The key shared by every client of a unix socket: they have no address to tell them apart. */
export const UNIX_CLIENT = "unix";

/** The eight 16-bit groups of an IPv6 address (RFC 4291 section 2.2 text forms), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.split("%")[0]!; // a zone id (fe80::1%eth0) is not part of the address
  // An embedded IPv4 tail (::ffff:192.0.2.7) is two groups.
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(2).map(Number) as [number, number, number, number];
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string | undefined) => (s ? s.split(":") : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return undefined;
  const groups = [...head, ...Array<string>(fill).fill("0"), ...tail].map((g) => Number.parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The rate-limit key of a client address. IPv4 addresses count one by one; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, how a dual-stack socket shows an IPv4 client) counts as that IPv4
 * address; other IPv6 addresses count per /64, the smallest block a site or a single host is
 * normally given (RFC 6177), so rotating addresses inside it does not buy new budgets. Clients of
 * a unix socket have no address and share one key. Pure.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return UNIX_CLIENT;
  const family = isIP(address.split("%")[0]!);
  if (family === 4) return address;
  const groups = family === 6 ? ipv6Groups(address) : undefined;
  if (!groups) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** Who is calling, for rate limits (`key`) and for the audit log (`ip`, as the socket shows it). */
export function clientOf(req: { ip?: string | undefined }): { key: string; ip: string } {
  return { key: clientKey(req.ip), ip: req.ip || UNIX_CLIENT };
}
