import { formatBytes } from '../model/memory-estimate';
import { formatAdvice } from '../sources/variants';
import { useSources } from '../store/sources';

/** The ONNX variants the source offers; the choice says what it means for pruning. */
export function VariantPicker() {
  const inspection = useSources((s) => s.inspection);
  const variantId = useSources((s) => s.variantId);
  const chooseVariant = useSources((s) => s.chooseVariant);
  if (!inspection || inspection.variants.length === 0) return null;
  const variant = inspection.variants.find((v) => v.id === variantId);
  return (
    <div className="variant-picker">
      <label className="field">
        <span>Variant</span>
        <select data-testid="variant" value={variantId ?? ''} onChange={(e) => chooseVariant(e.target.value)}>
          {inspection.variants.map((v) => (
            <option key={v.id} value={v.id}>
              {`${v.label}: ${v.bytes !== undefined ? formatBytes(v.bytes) : 'size unknown'}${v.available ? ', cached' : ''}`}
            </option>
          ))}
        </select>
      </label>
      {variant && (
        <p className="hint" data-testid="variant-advice">
          {variant.id}
          {variant.dataFiles.length ? ` + ${variant.dataFiles.length} data file${variant.dataFiles.length > 1 ? 's' : ''}` : ''}. {formatAdvice(variant.format)}
        </p>
      )}
    </div>
  );
}
