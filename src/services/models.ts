/**
 * The models the product page lists, in one place. OpenCode accepts any
 * `provider/model` it knows; this list is what we recommend and show.
 */
export interface ModelInfo {
  id: string;
  provider: string;
  name: string;
  description: string;
  recommended: boolean;
}

const catalog: ReadonlyArray<Omit<ModelInfo, "provider" | "recommended"> & { recommended?: true }> = [
  { id: "anthropic/claude-opus-4", name: "Claude Opus 4", description: "Most capable" },
  {
    id: "anthropic/claude-sonnet-4-20250514",
    name: "Claude Sonnet 4",
    description: "Best balance (recommended)",
    recommended: true,
  },
  { id: "anthropic/claude-3-5-haiku-20241022", name: "Claude 3.5 Haiku", description: "Fast and affordable" },
  { id: "openai/gpt-4o", name: "GPT-4o", description: "GPT-4 Omni" },
  { id: "openai/o1", name: "o1", description: "Reasoning model" },
  { id: "openai/o3-mini", name: "o3-mini", description: "Latest mini model" },
  { id: "google/gemini-2.0-flash", name: "Gemini 2.0 Flash", description: "Fast" },
  { id: "google/gemini-2.5-pro", name: "Gemini 2.5 Pro", description: "Most capable" },
  { id: "deepseek/deepseek-chat", name: "DeepSeek Chat", description: "DeepSeek" },
  { id: "xai/grok-2", name: "Grok 2", description: "xAI Grok" },
];

export const models: readonly ModelInfo[] = catalog.map((m) => ({
  ...m,
  provider: m.id.slice(0, m.id.indexOf("/")),
  recommended: m.recommended === true,
}));

export const recommendedModel = models.find((m) => m.recommended)!.id;

export interface ModelList {
  models: ModelInfo[];
  /** Provider name to the ids of its models, in the page's order. */
  providers: Record<string, string[]>;
  recommended: string;
  default: string;
}

/** The model catalogue, grouped by provider. */
export function listModels(): ModelList {
  const providers: Record<string, string[]> = {};
  for (const m of models) (providers[m.provider] ??= []).push(m.id);
  return { models: [...models], providers, recommended: recommendedModel, default: recommendedModel };
}
