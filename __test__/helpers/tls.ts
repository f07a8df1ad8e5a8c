// Test certificates made with Debian's `openssl` at test time (nothing is
// committed), and a mosquitto with TLS listeners that use them.
//
//   const certs = await makeCerts();            // CA, server, client, expired, other CA
//   const tls = await startTlsMosquitto(certs); // plain, TLS, mutual-TLS and expired listeners
//   mqtt.open('127.0.0.1', tls.ports.tls, id, { tls: { ca: certs.ca } });
//
// Every key is EC P-256 (quick to make). The server certificates name
// 127.0.0.1 and localhost in subjectAltName, as rustls checks names there
// only (never in the CN).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net';
import { startMosquitto, type Mosquitto } from './mosquitto';
import { run } from './run';

export interface Certs {
  dir: string;
  /** PEM contents */
  ca: string;
  /** a second CA that signed nothing the broker shows: "unknown CA" */
  otherCa: string;
  clientCert: string;
  clientKey: string;
  /** file paths, for mosquitto.conf and the command line */
  files: {
    ca: string;
    serverCert: string;
    serverKey: string;
    expiredCert: string;
    clientCert: string;
    clientKey: string;
  };
  remove(): void;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir }).exit;
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30',
    '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A key and a certificate signed by ca.pem, with the extensions in `ext`. */
async function makeLeaf(dir: string, name: string, cn: string, ext: string[], serial: number): Promise<void> {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial),
    '-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`,
  ]);
}

const SERVER_EXT = [
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  'basicConstraints=CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth',
];

/**
 * The server's key with a certificate that expired in 2020. `openssl x509`
 * of OpenSSL 3.0 cannot set past dates; `openssl ca` can.
 */
async function makeExpired(dir: string): Promise<void> {
  fs.mkdirSync(path.join(dir, 'db'));
  fs.writeFileSync(path.join(dir, 'db', 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'db', 'serial'), '10\n');
  fs.writeFileSync(path.join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = test',
    '[test]', 'database = db/index.txt', 'serial = db/serial', 'new_certs_dir = db', 'default_md = sha256',
    'policy = any', 'copy_extensions = none',
    '[any]', 'commonName = supplied',
  ].join('\n') + '\n');
  await openssl(dir, [
    'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'server.csr',
    '-out', 'expired.pem', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z',
    '-extfile', 'server.ext', '-notext',
  ]);
}

export async function makeCerts(): Promise<Certs> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-tls-'));
  await makeCa(dir, 'ca', 'mqtt-rs test CA');
  await makeCa(dir, 'other-ca', 'mqtt-rs other CA');
  await makeLeaf(dir, 'server', '127.0.0.1', SERVER_EXT, 2);
  await makeLeaf(dir, 'client', 'mqtt-rs test client', [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth',
  ], 3);
  await makeExpired(dir);
  const file = (name: string) => path.join(dir, name);
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  return {
    dir,
    ca: read('ca.pem'),
    otherCa: read('other-ca.pem'),
    clientCert: read('client.pem'),
    clientKey: read('client.key'),
    files: {
      ca: file('ca.pem'),
      serverCert: file('server.pem'),
      serverKey: file('server.key'),
      expiredCert: file('expired.pem'),
      clientCert: file('client.pem'),
      clientKey: file('client.key'),
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsMosquitto {
  broker: Mosquitto;
  ports: {
    /** plain MQTT (mosquitto's own `broker.port`) */
    plain: number;
    /** TLS with the server certificate */
    tls: number;
    /** TLS that requires a client certificate signed by the test CA */
    mtls: number;
    /** TLS with the expired server certificate */
    expired: number;
  };
}

/**
 * mosquitto with its plain listener and three TLS listeners on loopback
 * (each `listener` line starts a block that the lines after it configure).
 * Null when mosquitto is not installed (see startMosquitto).
 */
export async function startTlsMosquitto(certs: Certs): Promise<TlsMosquitto | null> {
  const [tls, mtls, expired] = [await freePort(), await freePort(), await freePort()];
  const f = certs.files;
  const broker = await startMosquitto({
    extraConfig: [
      // A QoS 1 flood must not be cut by the broker's per-client queue
      // (1000 by default, beyond which mosquitto drops).
      'max_queued_messages 0',
      `listener ${tls} 127.0.0.1`, `cafile ${f.ca}`, `certfile ${f.serverCert}`, `keyfile ${f.serverKey}`,
      `listener ${mtls} 127.0.0.1`, `cafile ${f.ca}`, `certfile ${f.serverCert}`, `keyfile ${f.serverKey}`,
      'require_certificate true',
      `listener ${expired} 127.0.0.1`, `cafile ${f.ca}`, `certfile ${f.expiredCert}`, `keyfile ${f.serverKey}`,
    ],
  });
  if (broker === null) return null;
  return { broker, ports: { plain: broker.port, tls, mtls, expired } };
}
