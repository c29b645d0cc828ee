import { describe, expect, test } from 'vitest';
import { prng } from '../../scripts/lib/random.ts';

const take = (next: () => number, count: number): number[] => Array.from({ length: count }, next);

describe('prng', () => {
  test('the same seed gives the same sequence; another seed another one', () => {
    expect(take(prng(42), 20)).toEqual(take(prng(42), 20));
    expect(take(prng(42), 20)).not.toEqual(take(prng(43), 20));
  });

  test('numbers lie in [0, 1) and spread over it', () => {
    const values = take(prng(7), 10_000);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    const deciles = new Array<number>(10).fill(0);
    for (const value of values) deciles[Math.floor(value * 10)]! += 1;
    for (const count of deciles) expect(count).toBeGreaterThan(800);
  });
});
