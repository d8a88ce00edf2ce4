/** One line of the benchmark table. Each bench/<group>.ts exports `rows(): Promise<Row[]>`. */
export interface Row {
  /** The row group (usually the file name): export, calibration, ... */
  group: string;
  measurement: string;
  /** Formatted with its unit, e.g. "412 MB/s". */
  value: string;
  /** Sizes, machine and backend details needed to read the value. */
  notes?: string;
}
