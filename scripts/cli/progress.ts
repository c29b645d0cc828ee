/**
 * A one-line progress display on a terminal (stderr), silent elsewhere so logs and pipes stay
 * clean. Written here rather than taken from a library: it is one line of text redrawn with \r.
 */
export interface Progress {
  update(counts: Record<string, number>): void;
  done(): void;
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Progress {
  if (!stream.isTTY || env.CI === 'true') return { update: () => {}, done: () => {} };
  let last = 0;
  let drawn = false;
  const draw = (counts: Record<string, number>) => {
    const parts = Object.entries(counts).map(([name, value]) => `${value.toLocaleString('en-US')} ${name}`);
    const text = `${label} ${spinner()} ${parts.join(' · ')}`;
    stream.write(`\r${text.slice(0, (stream.columns ?? 80) - 1)}\u001b[K`);
    drawn = true;
  };
  let frame = 0;
  const spinner = () => '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[frame++ % 10];
  return {
    update(counts) {
      const now = Date.now();
      if (now - last < 80) return; // redraw at most ~12 times a second
      last = now;
      draw(counts);
    },
    done() {
      if (drawn) stream.write('\r\u001b[K');
    },
  };
}
