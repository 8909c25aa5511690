/**
 * What one OpenCode can run: its configured, credentialed providers' models and
 * its configured default, read from its own provider API. The server reads its
 * OpenCode's; a worker reads its own and reports them.
 */
import type { RunnableModel, RunnerModels } from "../contracts/models.js";
import type { OcProviderModel, OpencodeClient } from "./client.js";

const positive = (n: number | undefined) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.round(n) : null);

function toRunnable(providerId: string, model: OcProviderModel): RunnableModel {
  const cost = model.cost;
  return {
    id: `${providerId}/${model.id}`,
    provider: providerId,
    name: model.name || model.id,
    capabilities: {
      tool_call: model.capabilities?.toolcall ?? false,
      reasoning: model.capabilities?.reasoning ?? false,
      attachment: model.capabilities?.attachment ?? false,
      context_tokens: positive(model.limit?.context),
      output_tokens: positive(model.limit?.output),
    },
    cost:
      typeof cost?.input === "number" && typeof cost.output === "number"
        ? { input: cost.input, output: cost.output, cache_read: cost.cache?.read ?? null, cache_write: cost.cache?.write ?? null }
        : null,
  };
}

/** Reads the models `client` can run now. Deprecated models are left out: OpenCode refuses them. */
export async function readRunnerModels(client: OpencodeClient): Promise<RunnerModels> {
  const [providers, config] = await Promise.all([client.providers(), client.config().catch(() => ({}) as { model?: string })]);
  const models: RunnableModel[] = [];
  for (const provider of providers.providers) {
    for (const model of Object.values(provider.models)) {
      if (model.status === "deprecated") continue;
      models.push(toRunnable(provider.id, model));
    }
  }
  models.sort((a, b) => a.id.localeCompare(b.id));
  const ids = new Set(models.map((m) => m.id));
  // OpenCode's own choice: the configured `model`, else a connected provider's default.
  const configured = config.model && ids.has(config.model) ? config.model : null;
  const providerDefault = Object.entries(providers.default)
    .map(([provider, model]) => `${provider}/${model}`)
    .find((id) => ids.has(id));
  return { models, default: configured ?? providerDefault ?? models[0]?.id ?? null };
}
