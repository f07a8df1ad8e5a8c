// Where the examples connect: MQTT_URL=mqtt://host:port, else localhost:1883.

export function brokerAddress(): { host: string; port: number } {
  const url = process.env.MQTT_URL;
  if (!url) return { host: 'localhost', port: 1883 };
  const u = new URL(url);
  if (u.protocol !== 'mqtt:') throw new Error(`MQTT_URL must look like mqtt://host:port, got ${url}`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 1883 };
}
