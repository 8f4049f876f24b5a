// Reading figures out of a Prometheus text exposition (a gateway's /metrics).

/** A metric's value (summed over series matching `labels`, e.g. 'kind="server"'). */
export function metric(text, name, labels = '') {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}
