import type { ReactNode } from 'react';
import { formatBytes } from '../model/memory-estimate';
import type { Fact, ModelCard } from '../model/model-card';
import { useStudio } from '../store/studio-app';
import { useSources } from '../store/sources';

/** Architecture facts of the loaded model: what the pruning plan will work with. */
export function ModelCardView() {
  const card = useSources((s) => s.card);
  const loaded = useStudio((s) => s.model.status === 'ready');
  if (!card || !loaded) return null;
  return (
    <section className="model-card" data-testid="model-card">
      <h3>Model card</h3>
      <dl>
        <Row id="architecture" label="Architecture">{card.modelType ?? 'not in config.json'}</Row>
        <Row id="layers" label="Layers">{fact(card.layers)}</Row>
        <Row id="hidden" label="Hidden size">{fact(card.hiddenSize)}</Row>
        <Row id="ffn" label="FFN size">{ffn(card)}</Row>
        <Row id="heads" label="Attention heads / KV heads">
          {fact(card.heads)} / {fact(card.kvHeads)}
        </Row>
        <Row id="head-dim" label="Head size">{fact(card.headDim)}</Row>
        <Row id="vocab" label="Vocabulary">{fact(card.vocabSize)}</Row>
        <Row id="dtype" label="Weights / compute">
          {card.weightFormat} / {card.computeType}
        </Row>
        <Row id="parameters" label="Parameters">{card.parameters.toLocaleString('en-US')}</Row>
        <Row id="files" label="Files">
          {card.files.map((f) => `${f.path} (${formatBytes(f.bytes)})`).join(', ')}; {formatBytes(card.totalBytes)} in all
        </Row>
        {card.contextLength !== undefined && <Row id="context" label="Context length">{card.contextLength.toLocaleString('en-US')}</Row>}
        <Row id="chat" label="Chat template">{card.chatTemplates.length ? card.chatTemplates.join(', ') : 'none (plain text prompts)'}</Row>
        <Row id="pruning" label="Pruning">
          {card.ffn.found ? `FFN found in every layer (${card.ffn.activation})` : `Cannot prune: ${card.ffn.reason}`}
        </Row>
      </dl>
      {card.notes.length > 0 && (
        <ul className="hint" data-testid="card-notes">
          {card.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Row({ id, label, children }: { id: string; label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={`card-${id}`}>{children}</dd>
    </>
  );
}

const fact = (f: Fact<number> | undefined) => (f ? `${f.value}${f.from === 'config' ? ' (config)' : ''}` : 'unknown');

function ffn(card: ModelCard): string {
  const sizes = card.ffnSizes;
  if (!sizes) return 'unknown';
  const uniform = sizes.value.every((s) => s === sizes.value[0]);
  const text = uniform ? `${sizes.value[0]} in every layer` : sizes.value.join(', ');
  return `${text}${sizes.from === 'config' ? ' (config)' : ''}`;
}
