import { useState } from "preact/hooks";

export interface Notice {
  ok: boolean;
  text: string;
}

/** What the last action did, shown at the page's top: the row it acted on may be gone by then. */
export function useNotice(): [Notice | null, (n: Notice | null) => void] {
  return useState<Notice | null>(null);
}

export function NoticeLine({ notice }: { notice: Notice | null }) {
  if (!notice) return null;
  return (
    <p role={notice.ok ? "status" : "alert"} class={notice.ok ? "ok" : "error"}>
      {notice.text}
    </p>
  );
}
