/**
 * Postgres cannot store every string JavaScript can hold: text and jsonb refuse NUL
 * (U+0000), and jsonb refuses unpaired surrogates. What the agent produces (tool
 * output, file contents) may contain either, and must not be lost for it, so such
 * characters become U+FFFD before they are stored.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be found
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with NUL and unpaired surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(unstorable, "\uFFFD");
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range, control characters included
const ascii = /^[\x00-\x7f]*$/;

/**
 * The order jsonb keeps an object's keys in: shorter first (in UTF-8 bytes), then by their bytes. An event this
 * process hands its followers as it stored it is then the same JSON, byte for byte, as one read back from the
 * database (by another server, or on a resume).
 */
function jsonbKeyOrder(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length - y.length || Buffer.compare(x, y);
}

/** A JSON value as jsonb stores it: every string in it made storable (keys too), object keys in jsonb's order. */
export function storableJson<T>(value: T): T {
  if (typeof value === "string") return storableText(value) as T;
  if (Array.isArray(value)) return value.map(storableJson) as T;
  if (value && typeof value === "object") {
    // Loops rather than entries/filter/map/fromEntries: this runs on every stored event, and the arrays in between
    // cost more than the work.
    const source = value as Record<string, unknown>;
    const keys: [stored: string, own: string][] = [];
    for (const key of Object.keys(source)) if (source[key] !== undefined) keys.push([storableText(key), key]);
    keys.sort(([a], [b]) => jsonbKeyOrder(a, b));
    const out: Record<string, unknown> = {};
    for (const [stored, own] of keys) out[stored] = storableJson(source[own]);
    return out as T;
  }
  return value;
}
