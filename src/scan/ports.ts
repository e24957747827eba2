import type { HostConfig } from "../config/schema.js";

/**
 * nmap's 100 most common TCP ports (`nmap --top-ports 100`, nmap-services frequency order as of
 * nmap 7.9x); test/scan/ports.test.ts checks this list against the installed nmap.
 */
export const TOP_100_TCP = [
  7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199, 389, 427,
  443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027, 1028,
  1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899, 5000,
  5009, 5051, 5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070, 8000, 8008, 8009, 8080,
  8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157,
];

/** The ports to scan on a host: its configured list, else its expected ports plus the top 100. */
export function portsToScan(host: HostConfig): number[] {
  const base = host.scan.ports ?? TOP_100_TCP;
  return [...new Set([...base, ...host.expectedPorts])].sort((a, b) => a - b);
}

/** "22,80-81,443": nmap's -p syntax with runs collapsed. */
export function portSpec(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!;
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i]! + 1) i++;
    parts.push(start === sorted[i] ? String(start) : `${start}-${sorted[i]}`);
  }
  return parts.join(",");
}
