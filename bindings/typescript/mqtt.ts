// The TypeScript API of the MQTT client. It stays thin: argument checks,
// typed events, handler dispatch. Types come from the index.d.ts that
// `napi build` generates; nothing here declares them again.
//
// "#native" is a private import of this package (package.json "imports"):
// it resolves to the generated ./index.js from the source file and from the
// compiled dist/mqtt.js alike. `import = require` compiles to a plain
// require() with no interop wrapper, so calls into the addon stay direct.

import native = require('#native');

/** Version of the Rust core compiled into the native addon. */
export function coreVersion(): ReturnType<typeof native.coreVersion> {
  return native.coreVersion();
}

// The same functions as one object, so that `import mqtt from '...'` works
// for ESM, for TypeScript's CommonJS output and for bundlers alike.
const mqtt = { coreVersion };
export default mqtt;
