import { describe, expect, test } from 'vitest';
import { mapLimit } from '../../scripts/lib/concurrency.ts';

/** A promise and its resolve, so the test decides when each task ends. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('mapLimit', () => {
  test('runs at most `limit` tasks at once and starts the next as one ends', async () => {
    const tasks = Array.from({ length: 5 }, () => deferred<string>());
    const started: number[] = [];
    const all = mapLimit(tasks, 2, (task, index) => {
      started.push(index);
      return task.promise;
    });
    await settle();
    expect(started).toEqual([0, 1]);
    tasks[1]!.resolve('b');
    await settle();
    expect(started).toEqual([0, 1, 2]);
    tasks[0]!.resolve('a');
    tasks[2]!.resolve('c');
    await settle();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    tasks[4]!.resolve('e');
    tasks[3]!.resolve('d');
    expect(await all).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  test('results come back in input order whatever order the tasks end in', async () => {
    const results = await mapLimit([30, 10, 20], 3, async (n) => {
      await new Promise((resolve) => setImmediate(resolve));
      return n * 2;
    });
    expect(results).toEqual([60, 20, 40]);
  });

  test('the first rejection rejects, and no further task starts', async () => {
    const tasks = Array.from({ length: 4 }, () => deferred<number>());
    const started: number[] = [];
    const all = mapLimit(tasks, 1, (task, index) => {
      started.push(index);
      return task.promise;
    });
    tasks[0]!.reject(new Error('zone unreachable'));
    await expect(all).rejects.toThrow('zone unreachable');
    expect(started).toEqual([0]);
  });

  test('no items, no calls; a limit below one still makes progress', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
    expect(await mapLimit(['x'], 0, async (value) => value)).toEqual(['x']);
  });
});
