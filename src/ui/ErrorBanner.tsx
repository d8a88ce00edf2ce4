import { useRuntime } from '../store/runtime';

export function ErrorBanner() {
  const error = useRuntime((state) => state.error);
  if (!error) return null;
  return (
    <div className="error" role="alert" data-testid="error">
      {error}
    </div>
  );
}
