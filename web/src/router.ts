import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

/** Goes to another console page without a reload (History API). */
export function navigate(to: string): void {
  if (to !== window.location.pathname + window.location.search) window.history.pushState(null, "", to);
  for (const l of listeners) l();
  document.getElementById("main")?.focus();
}

/** The current path; follows navigate() and the back button. */
export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return path;
}
