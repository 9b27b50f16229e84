// Bundle the live web page (web/page.js with the client and yjs) for the server to serve. The output
// is a build product from npm packages, so it stays out of git (mesh_tools/web/.gitignore).
import { build } from 'esbuild'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
await build({
  entryPoints: [resolve(here, '../web/page.js')],
  outfile: resolve(here, '../../mesh_tools/web/static/page.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning'
})
