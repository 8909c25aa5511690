/** Path containment that symlinks cannot fool: both sides are resolved to real paths first. */
import { realpath } from "node:fs/promises";
import path from "node:path";

/** `target` is `base` or inside it, lexically. */
export function isInside(base: string, target: string): boolean {
  const rel = path.relative(base, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * The real path of `target` when it exists and, with symlinks resolved on both
 * sides, lies inside `base`; null otherwise (missing, or it leads outside).
 */
export async function realInside(base: string, target: string): Promise<string | null> {
  try {
    const [realBase, realTarget] = await Promise.all([realpath(base), realpath(target)]);
    return isInside(realBase, realTarget) ? realTarget : null;
  } catch {
    return null;
  }
}
