// Order statistics for the benchmark's figures (nearest rank: a value that was actually measured).
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
