/** Download progress over several files: bytes, rate over the last seconds, and time left. */

export interface ProgressSnapshot {
  /** The file being fetched now. */
  file: string;
  /** Bytes at hand, counting those already cached or kept from an interrupted download. */
  loaded: number;
  /** Bytes of every file to fetch, when all sizes are known. */
  total: number | undefined;
  /** Network rate over the last few seconds; undefined until there is a measurement. */
  bytesPerSecond: number | undefined;
  /** Seconds left at that rate; undefined when the total or the rate is unknown. */
  etaSeconds: number | undefined;
  /** Bytes that came from the cache or from a resumed partial file (no download needed). */
  reusedBytes: number;
}

/** Rate window: long enough to smooth chunk bursts, short enough to follow a change of speed. */
const WINDOW_MS = 3000;

export class ProgressMeter {
  private loaded = 0;
  private reused = 0;
  private readonly samples: { at: number; loaded: number }[] = [];

  constructor(
    private total: number | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The set of files changed (e.g. once the graph named its data files). */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** Bytes found in the cache or kept from before: they count as loaded but not towards the rate. */
  reuse(bytes: number): void {
    this.loaded += bytes;
    this.reused += bytes;
  }

  received(bytes: number): void {
    const at = this.now();
    if (this.samples.length === 0) this.samples.push({ at, loaded: this.loaded });
    this.loaded += bytes;
    this.samples.push({ at, loaded: this.loaded });
    while (this.samples.length > 2 && at - this.samples[1]!.at > WINDOW_MS) this.samples.shift();
  }

  snapshot(file: string): ProgressSnapshot {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const elapsed = first && last ? (last.at - first.at) / 1000 : 0;
    const bytesPerSecond = elapsed > 0 ? (last!.loaded - first!.loaded) / elapsed : undefined;
    const etaSeconds =
      this.total !== undefined && bytesPerSecond ? Math.max(0, this.total - this.loaded) / bytesPerSecond : undefined;
    return { file, loaded: this.loaded, total: this.total, bytesPerSecond, etaSeconds, reusedBytes: this.reused };
  }
}
