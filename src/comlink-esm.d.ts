// comlink 4 ships ESM builds without an "exports" map or .d.mts files; these declarations let
// NodeNext resolution type its ESM entry points with the package's own types.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(nep: unknown): Endpoint;
}
