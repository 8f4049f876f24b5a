// A stand-in door thread for test/intake/door-thread.test.ts: speaks door-thread-main's protocol
// but decides by the envelope sender, so the SMTP side's handling of a thread that dies or
// never answers can be driven: crash@… ends the thread, hang@… gets no answer, others 250.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (m) => {
  if (m.type === 'close') {
    parentPort.close();
    return;
  }
  const answers = [];
  for (const item of m.batch) {
    if (item.envelope.mailFrom.startsWith('crash@')) process.exit(3);
    if (item.envelope.mailFrom.startsWith('hang@')) continue;
    const decision = {
      outcome: {
        outcome: 'queued',
        reply: { code: 250, enhanced: '2.0.0', text: `Ok: stub saw ${item.raw.byteLength} bytes` },
        verdict: null,
        queueId: 'stub',
      },
      notes: {},
    };
    answers.push({ id: item.id, decision });
  }
  if (answers.length > 0) parentPort.postMessage({ type: 'answers', batch: answers });
});
parentPort.postMessage({ type: 'ready', redis: true });
