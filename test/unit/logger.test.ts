import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createLogger, silentLogger } from '../../src/audit/logger';

/** The lines the plugin's logger wrote to stdout and stderr while `run` ran. */
function captured(run: () => void): { stdout: string[]; stderr: string[] } {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const spies = (['stdout', 'stderr'] as const).map((stream) =>
    jest.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines[stream].push(String(chunk));
      return true;
    }),
  );
  try {
    run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines;
}

describe('plugin log lines', () => {
  test('one JSON line per call: the fields, then level, message and an ISO timestamp', () => {
    const { stderr } = captured(() => createLogger('info').info('image-access listening', { socket: '/run/x.sock', mode: 'enforce' }));
    expect(stderr).toHaveLength(1);
    expect(stderr[0]!.endsWith('\n')).toBe(true);
    const line = JSON.parse(stderr[0]!) as Record<string, unknown>;
    expect(Object.keys(line)).toEqual(['socket', 'mode', 'level', 'message', 'timestamp']);
    expect(line).toMatchObject({ socket: '/run/x.sock', mode: 'enforce', level: 'info', message: 'image-access listening' });
    expect(new Date(line['timestamp'] as string).toISOString()).toBe(line['timestamp']);
  });

  test("as winston's logger makes a line: a `message` field is joined to the message, a field named level is overwritten in place", () => {
    const { stderr } = captured(() => createLogger('info').warn('cannot read the policy', { level: 'x', message: 'ENOENT', path: '/p' }));
    expect(Object.keys(JSON.parse(stderr[0]!) as object)).toEqual(['level', 'message', 'path', 'timestamp']);
    expect(JSON.parse(stderr[0]!)).toMatchObject({ level: 'warn', message: 'cannot read the policy ENOENT', path: '/p' });
  });

  test('fields left undefined are left out of the line, whichever way it is written', () => {
    const { stderr } = captured(() => {
      const logger = createLogger('info');
      logger.info('image decision', { user: undefined, image: 'alpine', via: undefined });
      logger.info('image decision', { user: undefined });
      logger.info('nested', { user: undefined, error: { code: 'EIO' } });
    });
    expect(stderr.map((line) => Object.keys(JSON.parse(line) as object))).toEqual([
      ['image', 'level', 'message', 'timestamp'],
      ['level', 'message', 'timestamp'],
      ['error', 'level', 'message', 'timestamp'],
    ]);
  });

  test("fields that are not a plain object give winston's line: their own enumerable fields, then level, message and timestamp", () => {
    class Tagged {
      readonly kind = 'tagged';
      toJSON(): string {
        return 'as JSON';
      }
    }
    const { stderr } = captured(() => {
      const logger = createLogger('info');
      logger.info('array', ['a', 'b']);
      logger.info('url', new URL('https://example.test/x'));
      logger.info('class', new Tagged());
    });
    expect(stderr.map((line) => Object.keys(JSON.parse(line) as object))).toEqual([
      ['0', '1', 'level', 'message', 'timestamp'],
      ['level', 'message', 'timestamp'],
      ['kind', 'level', 'message', 'timestamp'],
    ]);
  });

  test('lines below the configured level are dropped', () => {
    const { stderr } = captured(() => {
      const logger = createLogger('warn');
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      logger.log('info', 'decision');
      logger.log('warn', 'warned decision');
    });
    expect(stderr.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual(['w', 'e', 'warned decision']);
  });

  test('split streams: warnings and errors on stderr, the rest on stdout (dockerd logs them at their level)', () => {
    const { stdout, stderr } = captured(() => {
      const logger = createLogger('debug', 'split');
      for (const level of ['debug', 'info', 'warn', 'error'] as const) logger[level](level);
    });
    expect(stdout.map((line) => (JSON.parse(line) as { level: string }).level)).toEqual(['debug', 'info']);
    expect(stderr.map((line) => (JSON.parse(line) as { level: string }).level)).toEqual(['warn', 'error']);
  });

  test('secret-named fields are redacted at any depth; a cycle or a bigint costs a field, not the line', () => {
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle['self'] = cycle;
    const { stderr } = captured(() =>
      createLogger('info').warn('odd fields', { password: 'hunter2', nested: { Authorization: 'Bearer abc', list: [{ token: 't' }] }, deep: { a: { b: { c: { d: { e: { f: { g: cycle } } } } } } }, big: 10n }),
    );
    expect(stderr[0]).not.toMatch(/hunter2|Bearer abc|"t"/);
    const line = JSON.parse(stderr[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ password: '[redacted]', nested: { Authorization: '[redacted]', list: [{ token: '[redacted]' }] }, big: '10', message: 'odd fields' });
  });

  test('the silent logger writes nothing', () => {
    const { stdout, stderr } = captured(() => silentLogger().error('nothing'));
    expect([...stdout, ...stderr]).toEqual([]);
  });

  test("deferred (a starting plugin's logger): nothing is written before deferMs, then every line in order with the time it was logged", async () => {
    let logger: ReturnType<typeof createLogger>;
    const loggedAt = new Date().toISOString();
    const early = captured(() => {
      logger = createLogger('info', 'stderr', 40);
      logger.warn('starting', { policy: 'builtin' });
      logger.debug('dropped');
      logger.info('listening');
    });
    expect([...early.stdout, ...early.stderr]).toEqual([]);
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    try {
      await new Promise((resolve) => setTimeout(resolve, 150));
      logger!.info('serving');
    } finally {
      spy.mockRestore();
    }
    const parsed = lines.map((line) => JSON.parse(line) as { message: string; timestamp: string; policy?: string });
    expect(parsed.map((line) => line.message)).toEqual(['starting', 'listening', 'serving']);
    expect(parsed[0]!.policy).toBe('builtin');
    expect(parsed[0]!.timestamp < parsed[2]!.timestamp).toBe(true);
    expect(parsed[0]!.timestamp.slice(0, 16)).toBe(loggedAt.slice(0, 16));
  });

  test('deferred lines are written when the process exits first', () => {
    const logger = join(__dirname, '..', '..', 'dist', 'audit', 'logger.js');
    const script = `const l = require(${JSON.stringify(logger)}).createLogger('info', 'stderr', 60000); l.error('exiting', { code: 3 }); process.exit(3);`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(run.status).toBe(3);
    expect(JSON.parse(run.stderr)).toMatchObject({ code: 3, level: 'error', message: 'exiting' });
  });
});
