// A bare smtp-server sink: the same basic options as the gateway's listener, and an onData
// that only drains the stream and answers 250. The yardstick for bench/smtp-intake.mjs.
//
// Run as a child process (forked): listens on 127.0.0.1, port from argv[2] (0 = any free
// port), and sends {ready: true, port} over IPC once listening. Stops on SIGTERM or when told
// {stop: true} over IPC.
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2] ?? 0);
const host = '127.0.0.1';

const server = new SMTPServer({
  name: 'bare-sink',
  banner: 'bare smtp-server sink',
  size: 25 * 1024 * 1024,
  maxClients: 1000,
  disabledCommands: ['AUTH', 'STARTTLS'],
  disableReverseLookup: true,
  authOptional: true,
  hideENHANCEDSTATUSCODES: true,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.once('error', (err) => callback(Object.assign(err, { responseCode: 451 })));
    stream.once('end', () => {
      if (stream.sizeExceeded) {
        callback(Object.assign(new Error('5.3.4 Message too big'), { responseCode: 552 }));
        return;
      }
      callback(null, '2.0.0 Ok: accepted');
    });
  },
});
server.on('error', () => {});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('message', (m) => {
  if (m && m.stop) stop();
});
process.on('disconnect', stop);

server.listen(port, host, () => {
  const addr = server.server.address();
  const msg = { ready: true, port: typeof addr === 'object' && addr ? addr.port : port };
  if (process.send) process.send(msg);
  else process.stdout.write(`${JSON.stringify(msg)}\n`);
});
