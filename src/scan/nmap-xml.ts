import type { PortResult } from "../domain/scan.js";

/** What one `nmap -oX -` run of a single target says. */
export interface NmapRun {
  version: string;
  args: string;
  exit: "success" | "error";
  errorMessage?: string;
  hosts: { up: number; down: number; total: number };
  host?: {
    address: string;
    status: string;
    timedOut: boolean;
    ports: PortResult[];
    extraPorts: { state: string; count: number }[];
  };
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, name: string) => {
    if (name.startsWith("#x") || name.startsWith("#X")) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? all;
  });
}

/** Attributes of the first `<tag ...>` in `xml` (or undefined). */
function attrs(xml: string, tag: string): Record<string, string> | undefined {
  const m = new RegExp(`<${tag}(\\s[^>]*)?/?>`).exec(xml);
  return m ? parseAttrs(m[1] ?? "") : undefined;
}

function parseAttrs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"/g)) out[m[1]!] = decode(m[2]!);
  return out;
}

/**
 * Parses nmap's XML output (xmloutputversion 1.05) for a scan of one target. Only the elements
 * sshca uses are read; nmap writes them one element per line, without nesting surprises.
 * Throws when the text is not nmap XML at all.
 */
export function parseNmapXml(xml: string): NmapRun {
  const run = attrs(xml, "nmaprun");
  const finished = attrs(xml, "finished");
  if (!run && !finished) throw new Error("not nmap XML output");
  const hostsAttr = attrs(xml, "hosts") ?? {};
  const result: NmapRun = {
    version: run?.version ?? "unknown",
    args: run?.args ?? "",
    exit: finished?.exit === "error" ? "error" : finished ? "success" : "error",
    hosts: { up: Number(hostsAttr.up ?? 0), down: Number(hostsAttr.down ?? 0), total: Number(hostsAttr.total ?? 0) },
  };
  if (finished?.errormsg) result.errorMessage = finished.errormsg;
  if (!finished) result.errorMessage = "nmap output ended before the scan finished";

  const hostBlock = /<host\s[^>]*>[\s\S]*?<\/host>/.exec(xml)?.[0];
  if (hostBlock) {
    const hostTag = attrs(hostBlock, "host") ?? {};
    const ports: PortResult[] = [];
    for (const m of hostBlock.matchAll(/<port\s([^>]*)>([\s\S]*?)<\/port>/g)) {
      const p = parseAttrs(m[1]!);
      const state = attrs(m[2]!, "state") ?? {};
      const service = attrs(m[2]!, "service");
      ports.push({
        port: Number(p.portid),
        protocol: p.protocol ?? "tcp",
        state: state.state ?? "unknown",
        ...(service?.name ? { service: service.name } : {}),
        ...(service?.product ? { product: service.product } : {}),
        ...(service?.version ? { version: service.version } : {}),
      });
    }
    const extraPorts = [...hostBlock.matchAll(/<extraports\s([^>]*)>/g)].map((m) => {
      const a = parseAttrs(m[1]!);
      return { state: a.state ?? "unknown", count: Number(a.count ?? 0) };
    });
    result.host = {
      address: attrs(hostBlock, "address")?.addr ?? "",
      status: attrs(hostBlock, "status")?.state ?? "unknown",
      timedOut: hostTag.timedout === "true",
      ports: ports.sort((a, b) => a.port - b.port),
      extraPorts,
    };
  }
  return result;
}
