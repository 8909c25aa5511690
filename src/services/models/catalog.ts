/**
 * The ten models the product page lists. They stay in every models answer for
 * compatibility, marked unavailable when nothing online can run them; what can
 * run comes from OpenCode itself (see models.ts).
 */
export interface CatalogModel {
  id: string;
  provider: string;
  name: string;
  description: string;
}

const listed: ReadonlyArray<Omit<CatalogModel, "provider">> = [
  { id: "anthropic/claude-opus-4", name: "Claude Opus 4", description: "Most capable" },
  { id: "anthropic/claude-sonnet-4-20250514", name: "Claude Sonnet 4", description: "Best balance (recommended)" },
  { id: "anthropic/claude-3-5-haiku-20241022", name: "Claude 3.5 Haiku", description: "Fast and affordable" },
  { id: "openai/gpt-4o", name: "GPT-4o", description: "GPT-4 Omni" },
  { id: "openai/o1", name: "o1", description: "Reasoning model" },
  { id: "openai/o3-mini", name: "o3-mini", description: "Latest mini model" },
  { id: "google/gemini-2.0-flash", name: "Gemini 2.0 Flash", description: "Fast" },
  { id: "google/gemini-2.5-pro", name: "Gemini 2.5 Pro", description: "Most capable" },
  { id: "deepseek/deepseek-chat", name: "DeepSeek Chat", description: "DeepSeek" },
  { id: "xai/grok-2", name: "Grok 2", description: "xAI Grok" },
];

export const catalogModels: readonly CatalogModel[] = listed.map((m) => ({ ...m, provider: m.id.slice(0, m.id.indexOf("/")) }));

/** The page's recommendation, used only when it can run. */
export const catalogRecommended = "anthropic/claude-sonnet-4-20250514";
