// A small fuzzy scorer for quick open and the command palette: the query's characters
// must appear in order; matches at word starts (after / . _ - space, camelCase humps),
// consecutive runs and matches inside the file name score higher, long targets lower.
// Pure and allocation-light so 50k paths filter within a frame or two.

export interface FuzzyResult<T> {
  item: T;
  score: number;
  /** Indexes into the target string of the matched characters (for highlighting). */
  positions: number[];
}

const SEPARATORS = "/\\._- :";

function isBoundary(target: string, index: number): boolean {
  if (index === 0) return true;
  const prev = target.charCodeAt(index - 1);
  const ch = target.charCodeAt(index);
  if (SEPARATORS.includes(target[index - 1]!)) return true;
  // camelCase hump: lower → Upper
  return prev >= 97 && prev <= 122 && ch >= 65 && ch <= 90;
}

/**
 * Matches `query` (already lower-cased, no spaces) against `target` from `start`;
 * answers the positions (greedy, then tightened backwards) or null.
 */
function matchFrom(query: string, target: string, lower: string, start: number): number[] | null {
  const positions: number[] = [];
  let t = start;
  for (let q = 0; q < query.length; q++) {
    const ch = query[q]!;
    // Prefer a boundary occurrence when the greedy one is not one and not consecutive.
    let found = lower.indexOf(ch, t);
    if (found < 0) return null;
    if (!isBoundary(target, found) && (positions.length === 0 || positions[positions.length - 1] !== found - 1)) {
      for (let k = found + 1; k < lower.length; k++) {
        if (lower[k] === ch && isBoundary(target, k)) {
          // Only take the boundary if the rest of the query still fits after it.
          if (fits(query, q + 1, lower, k + 1)) found = k;
          break;
        }
      }
    }
    positions.push(found);
    t = found + 1;
  }
  return positions;
}

function fits(query: string, q: number, lower: string, t: number): boolean {
  for (; q < query.length; q++) {
    const found = lower.indexOf(query[q]!, t);
    if (found < 0) return false;
    t = found + 1;
  }
  return true;
}

function scorePositions(target: string, positions: number[], nameStart: number): number {
  let score = 0;
  let prev = -2;
  for (const p of positions) {
    score += 1;
    if (p === prev + 1) score += 6;
    if (isBoundary(target, p)) score += 8;
    if (p >= nameStart) score += 3;
    if (p === nameStart) score += 6;
    prev = p;
  }
  // Compact matches and short targets first.
  const span = positions[positions.length - 1]! - positions[0]! + 1;
  score -= (span - positions.length) * 0.2;
  score -= target.length * 0.05;
  return score;
}

/** Scores one target; null when the query does not match. `query` is used as given (spaces removed, lower-cased). */
export function fuzzyScore(query: string, target: string): { score: number; positions: number[] } | null {
  const q = query.replace(/\s+/g, "").toLowerCase();
  if (q.length === 0) return { score: 0, positions: [] };
  return scoreLower(q, target, target.toLowerCase());
}

function scoreLower(q: string, target: string, lower: string): { score: number; positions: number[] } | null {
  const slash = target.lastIndexOf("/");
  const nameStart = slash + 1;
  let positions: number[] | null = null;
  // Try the file name alone first: "idets" should find src/ide/Ide.ts by its name.
  if (!q.includes("/") && nameStart > 0) positions = matchFrom(q, target, lower, nameStart);
  if (!positions) positions = matchFrom(q, target, lower, 0);
  if (!positions) return null;
  return { score: scorePositions(target, positions, nameStart), positions };
}

/**
 * Filters and sorts `items` by how well `text(item)` matches `query`; the best `limit`.
 * An empty query keeps the order.
 */
const lowered = new WeakMap<readonly unknown[], string[]>();

function isSubsequence(q: string, lower: string): boolean {
  let t = 0;
  for (let i = 0; i < q.length; i++) {
    t = lower.indexOf(q[i]!, t);
    if (t < 0) return false;
    t++;
  }
  return true;
}

/**
 * Filters and sorts `items` by how well `text(item)` matches `query`; the best `limit`.
 * An empty query keeps the order. The lower-cased texts are cached per `items` array,
 * so typing into quick open re-filters the same array cheaply.
 */
export function fuzzyFilter<T>(query: string, items: readonly T[], text: (item: T) => string, limit = 100): FuzzyResult<T>[] {
  const q = query.replace(/\s+/g, "").toLowerCase();
  if (q.length === 0) return items.slice(0, limit).map((item) => ({ item, score: 0, positions: [] }));
  let lowers = lowered.get(items);
  if (!lowers) {
    lowers = items.map((item) => text(item).toLowerCase());
    lowered.set(items, lowers);
  }
  const results: FuzzyResult<T>[] = [];
  for (let i = 0; i < items.length; i++) {
    const lower = lowers[i]!;
    if (!isSubsequence(q, lower)) continue;
    const item = items[i]!;
    const scored = scoreLower(q, text(item), lower);
    if (scored) results.push({ item, score: scored.score, positions: scored.positions });
  }
  results.sort((a, b) => b.score - a.score || text(a.item).length - text(b.item).length);
  return results.slice(0, limit);
}
