/** The generator's explanation before its code block, written once per problem (see `leadRequest`). */
import { collectCandidates, type GenerationRequest, type Generator } from '../generation/types';
import { throwIfAborted } from '../shared/abort';

/** How many problems' leads are kept (a few files are open at a time). */
const KEPT = 16;

export class LeadCache {
  private readonly leads = new Map<string, Promise<string>>();

  /**
   * The lead for `request` (a `leadRequest`): the text before the generator's code block,
   * ending in a blank line as a response does before its fence; '' when the generator
   * opened no block within the request's tokens. A failed or cancelled lead is not kept.
   */
  get(generator: Generator, request: GenerationRequest, signal?: AbortSignal): Promise<string> {
    const key = JSON.stringify([generator.name, request.messages, request.temperature, request.topP, request.topK]);
    let lead = this.leads.get(key);
    if (!lead) {
      lead = writeLead(generator, request, signal);
      this.leads.set(key, lead);
      lead.catch(() => this.leads.get(key) === lead && this.leads.delete(key));
      if (this.leads.size > KEPT) this.leads.delete(this.leads.keys().next().value as string);
    }
    return lead;
  }

  clear(): void {
    this.leads.clear();
  }
}

async function writeLead(generator: Generator, request: GenerationRequest, signal?: AbortSignal): Promise<string> {
  const [candidate] = await collectCandidates(generator, request, signal);
  throwIfAborted(signal);
  if (!candidate || candidate.finishReason !== 'stop' || !candidate.text.trim()) return '';
  return `${candidate.text.trimEnd()}\n\n`;
}
