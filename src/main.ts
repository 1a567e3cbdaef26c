/**
 * dpservice-bin: `<EAL args> -- <service args>`. Parses options (conf file first), starts the
 * supervisor, and exits 0 after a clean shutdown on SIGINT/SIGTERM, non-zero if start-up fails.
 */
import { parseServiceArgs, splitArgs } from './config/options.js';
import { startSupervisor } from './actors/supervisor.js';

async function main(): Promise<number> {
  const { eal, service } = splitArgs(process.argv.slice(2));
  const parsed = parseServiceArgs(service, process.env);
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr.endsWith('\n') ? parsed.stderr : `${parsed.stderr}\n`);
    return parsed.code;
  }
  let sup;
  try {
    sup = await startSupervisor(parsed.options, eal);
  } catch (err) {
    process.stderr.write(`dpservice-bin: ${(err as Error).message}\n`);
    return 1;
  }
  const s = sup;
  return await new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: string): void => {
      if (signalled) return;
      signalled = true;
      s.log.info({ signal: sig }, 'signal received');
      s.stop().then(() => resolve(0), (err: Error) => {
        s.log.error({ err: err.message }, 'shutdown failed');
        resolve(1);
      });
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    void s.fatal.then(resolve);
  });
}

main().then((code) => process.exit(code), (err: Error) => {
  process.stderr.write(`dpservice-bin: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
