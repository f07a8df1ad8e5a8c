// Where the examples (and the demo) connect: MQTT_URL=mqtt://host:port.

/**
 * The host and port of an `mqtt://host:port` URL (port 1883 when it has
 * none; brackets of an IPv6 literal removed); null for an unset or empty one.
 */
export function parseMqttUrl(url: string | undefined): { host: string; port: number } | null {
  if (!url) return null;
  const u = new URL(url);
  if (u.protocol !== 'mqtt:') throw new Error(`MQTT_URL must look like mqtt://host:port, got ${url}`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 1883 };
}

/** The broker of MQTT_URL, else localhost:1883. */
export function brokerAddress(): { host: string; port: number } {
  return parseMqttUrl(process.env.MQTT_URL) ?? { host: 'localhost', port: 1883 };
}
