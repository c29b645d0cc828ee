/** How the benchmarks summarise and print what they measure (their tables are read side by side). */

/** The middle value (the mean of the two middle ones for an even count): runs are summarised by it. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A figure with thousands separators and exactly `digits` decimals: `12,345.68`. */
export function fixed(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Peak memory as /usr/bin/time and process.resourceUsage() report it (KiB), in whole MiB. */
export function mibOfKib(kib: number): string {
  return (kib / 1024).toFixed(0);
}
