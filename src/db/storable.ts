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

/** A JSON value with every string in it made storable (keys too); other values unchanged. */
export function storableJson<T>(value: T): T {
  if (typeof value === "string") return storableText(value) as T;
  if (Array.isArray(value)) return value.map(storableJson) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storableJson(v)])) as T;
  }
  return value;
}
