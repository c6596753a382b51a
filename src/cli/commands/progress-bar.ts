/**
 * A progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise.
 */
import { textBar } from '../../observe/text.js';

/** A progress bar; `done` ends its line. */
export interface ProgressBar {
  update(position: number, total: number): void;
  done(): void;
}

const WIDTH = 30;

/** Formats `█████████░░░░░░░░░░░  45% 1234/2742` (the seed's bar). */
export function formatProgress(position: number, total: number): string {
  const ratio = total <= 0 ? 1 : Math.min(1, position / total);
  return `${textBar(ratio, 1, WIDTH)} ${String(Math.floor(ratio * 100)).padStart(3)}% ${position}/${total}`;
}

/** A bar labelled `label` writing to `stream` (default stderr). */
export function createProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const tty = stream.isTTY === true;
  let shown = false;
  let lastDecile = -1;
  return {
    update(position, total) {
      const text = `${label} ${formatProgress(position, total)}`;
      if (tty) {
        stream.write(`\r${text}`);
        shown = true;
        return;
      }
      const decile = total <= 0 ? 10 : Math.floor((Math.min(position, total) / total) * 10);
      if (decile === lastDecile) return;
      lastDecile = decile;
      stream.write(`${text}\n`);
    },
    done() {
      if (tty && shown) stream.write('\n');
    },
  };
}
