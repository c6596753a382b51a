/**
 * Errors nobody handled: unhandled rejections and uncaught exceptions, which would end a real
 * process (an `error` event without a listener is one). Recorded while installed, so a test
 * can assert there were none and say what they were.
 *
 * @example
 * const processErrors = captureProcessErrors()
 * try { ... expect(processErrors.errors).toEqual([]) } finally { processErrors.dispose() }
 */

/** Recorded errors, each as `<kind>: <stack or text>`. */
export interface ProcessErrors {
  readonly errors: string[];
  /** Removes the listeners. */
  dispose(): void;
}

export function captureProcessErrors(): ProcessErrors {
  const errors: string[] = [];
  const record = (kind: string) => (error: unknown) => {
    errors.push(`${kind}: ${(error as Error)?.stack ?? String(error)}`);
  };
  const onRejection = record('unhandledRejection');
  const onException = record('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    errors,
    dispose() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
